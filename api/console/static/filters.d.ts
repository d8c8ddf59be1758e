// Types of filters.js for the TypeScript side (tests); the browser loads filters.js as it is.

export declare const JOB_STATES: readonly string[];
export declare const SERVER_FILTERS: readonly { param: string; from: (filters: Filters) => string | undefined }[];
export declare const SEARCH_FIELDS: readonly { label: string; value: (job: Record<string, any>) => string | undefined }[];

/** The jobs view's filter values. */
export interface Filters {
  state: string;
  q: string;
}

export declare function serverQuery(filters: Filters): Record<string, string>;
export declare function matchesSearch(job: object, q: string): boolean;
export declare function searchedJobId(q: string): string | undefined;
