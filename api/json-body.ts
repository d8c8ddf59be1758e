import { ApiError, ApiErrorCode, invalidRequest } from "./http-errors.ts";

/** Media types read as JSON: `application/json` and `application/<something>+json`, any parameters. */
const JSON_MEDIA_TYPE = /^application\/(?:[\w.-]+\+)?json$/i;

/**
 * Reads a request body as JSON, refusing (each with a 4xx naming `body` or `Content-Type`):
 * a body over `maxBytes` (413, checked on Content-Length first and again while reading, so a
 * lying or absent Content-Length cannot get more in), a media type other than JSON (415; a
 * missing Content-Type is accepted), an empty body and text that is not JSON (400).
 */
export async function readJsonBody(req: Request, maxBytes: number): Promise<unknown> {
  const tooLarge = (size: string) =>
    new ApiError(413, ApiErrorCode.bodyTooLarge, `request body is too large: ${size}, at most ${maxBytes} bytes are accepted`, {
      problems: [{ field: "body", reason: `must be at most ${maxBytes} bytes, got ${size}` }],
    });

  const declared = req.headers.get("content-length");
  if (declared !== null && /^\d+$/.test(declared) && Number(declared) > maxBytes) throw tooLarge(`${declared} bytes`);

  const contentType = req.headers.get("content-type");
  if (contentType !== null) {
    const mediaType = contentType.split(";")[0]!.trim();
    if (!JSON_MEDIA_TYPE.test(mediaType)) {
      throw new ApiError(415, ApiErrorCode.unsupportedMediaType, `the body must be JSON (Content-Type: application/json), got ${JSON.stringify(mediaType)}`, {
        problems: [
          {
            field: "Content-Type",
            reason: `must be application/json, got ${JSON.stringify(mediaType.slice(0, 100))} (with curl: -H 'Content-Type: application/json')`,
          },
        ],
      });
    }
  }

  const chunks: Uint8Array[] = [];
  let size = 0;
  if (req.body) {
    const reader = req.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > maxBytes) {
        await reader.cancel().catch(() => undefined);
        throw tooLarge(`more than ${maxBytes} bytes`);
      }
      chunks.push(value);
    }
  }
  // A BOM is legal at the start of a UTF-8 text but not in JSON.parse's grammar; TextDecoder drops it.
  const text = new TextDecoder("utf-8").decode(Buffer.concat(chunks));
  if (text.trim() === "") throw invalidRequest([{ field: "body", reason: "is empty; send the job request as a JSON object" }]);
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw invalidRequest([{ field: "body", reason: `is not valid JSON: ${(err as Error).message}` }]);
  }
}
