import { ApiError, ApiErrorCode, invalidRequest } from "./http-errors.ts";

/** Media types read as JSON: `application/json` and `application/<something>+json`, any parameters. */
const JSON_MEDIA_TYPE = /^application\/(?:[\w.-]+\+)?json$/i;

/** Stateless between calls (no `stream` option), so one decoder serves every request. */
const utf8 = new TextDecoder("utf-8");

/**
 * Reads a request body as JSON, refusing (each with a 4xx naming `body` or `Content-Type`):
 * a body over `maxBytes` (413, checked on Content-Length first and again on what is read, so a
 * lying or absent Content-Length cannot get more in; a chunked body is counted while it streams),
 * a media type other than JSON (415; a missing Content-Type is accepted), an empty body and text that is not JSON (400), and an object
 * that names a key twice (400 naming the key: JSON.parse would silently keep the last value, so
 * `{"Use GPU": false, …, "Use GPU": true}` would run on a GPU the sender may have meant to turn off).
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

  const bytes = declared !== null && /^\d+$/.test(declared) ? await readDeclared(req, maxBytes, tooLarge) : await readStreamed(req, maxBytes, tooLarge);
  // A BOM is legal at the start of a UTF-8 text but not in JSON.parse's grammar; the decoder drops it.
  const text = utf8.decode(bytes);
  if (text.trim() === "") throw invalidRequest([{ field: "body", reason: "is empty; send the job request as a JSON object" }]);
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch (err) {
    throw invalidRequest([{ field: "body", reason: `is not valid JSON: ${(err as Error).message}` }]);
  }
  const duplicates = duplicateKeys(text);
  if (duplicates.length > 0)
    throw invalidRequest(duplicates.map((field) => ({ field, reason: "appears more than once in the JSON object; send each key once" })));
  return value;
}

/**
 * A body with a Content-Length (at most `maxBytes`, checked before): read at once, without a
 * stream. The transports hold a body to its Content-Length (Node's HTTP parser reads exactly that
 * many bytes and no more; API Gateway hands the Lambda the whole body), so this reads no more than
 * was declared there; a Request built in a process with a Content-Length smaller than its body is
 * still refused, by what it read. Reading this way skips a web stream per request (with
 * @hono/node-server, reading `req.body` builds a whole undici Request and a web stream over the socket).
 */
async function readDeclared(req: Request, maxBytes: number, tooLarge: (size: string) => ApiError): Promise<Uint8Array> {
  const bytes = new Uint8Array(await req.arrayBuffer());
  if (bytes.byteLength > maxBytes) throw tooLarge(`more than ${maxBytes} bytes`);
  return bytes;
}

/** A body without a Content-Length (chunked): counted while it streams, refused as soon as it passes `maxBytes`. */
async function readStreamed(req: Request, maxBytes: number, tooLarge: (size: string) => ApiError): Promise<Uint8Array> {
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
  return Buffer.concat(chunks);
}

/**
 * The keys that an object of a JSON text names more than once, each as its dotted path from the
 * top (`Use GPU`, `Notes.a`), in the order their second occurrence appears. One pass over the text,
 * which must already be valid JSON (JSON.parse accepted it): only strings, brackets, commas and
 * colons matter, and a key is a string right after `{` or `,` inside an object.
 */
export function duplicateKeys(text: string): string[] {
  interface Frame {
    kind: "object" | "array";
    keys: Set<string>;
    /** The path of this container, and its current key (objects) for its children. */
    path: string[];
    key?: string;
    expectKey: boolean;
  }
  const stack: Frame[] = [];
  const found: string[] = [];
  const reported = new Set<string>();
  const childPath = (): string[] => {
    const top = stack.at(-1);
    if (!top) return [];
    return top.kind === "object" ? [...top.path, top.key ?? ""] : [...top.path, "[]"];
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      const top = stack.at(-1);
      if (top?.kind === "object" && top.expectKey) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        if (top.keys.has(key)) {
          const field = [...top.path, key].filter((p) => p !== "[]").join(".");
          if (!reported.has(field)) {
            reported.add(field);
            found.push(field);
          }
        }
        top.keys.add(key);
        top.key = key;
        top.expectKey = false;
      }
      i = j;
    } else if (c === "{" || c === "[") {
      stack.push({ kind: c === "{" ? "object" : "array", keys: new Set(), path: childPath(), expectKey: c === "{" });
    } else if (c === "}" || c === "]") {
      stack.pop();
    } else if (c === ",") {
      const top = stack.at(-1);
      if (top?.kind === "object") top.expectKey = true;
    }
  }
  return found;
}
