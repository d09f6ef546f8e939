import { ResourceInfo } from '../../lib/resources';

/**
 * The OpenAPI documents and unknown-field check (services/kube-apiserver/openapi/, written
 * separately), loaded lazily: until that module exists the paths answer 404 and fieldValidation
 * checks nothing.
 */
export interface OpenApiModule {
  openapiV3Index?(): object;
  openapiV3Document?(groupVersionPath: string): object | undefined;
  openapiV2?(): object;
  unknownFields?(info: ResourceInfo, json: unknown): string[];
}

let loaded: OpenApiModule | null | undefined;

/** The openapi module, or undefined when it is not built yet. */
export function openapi(): OpenApiModule | undefined {
  if (loaded === undefined) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      loaded = require('../openapi') as OpenApiModule;
    } catch {
      loaded = null;
    }
  }
  return loaded ?? undefined;
}
