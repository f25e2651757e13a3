import { Ajv, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import type { FastifySchemaCompiler } from 'fastify';

/**
 * Two validators, because bodies and URLs need opposite rules. A JSON body is taken exactly as
 * sent: no type coercion ("123" is not 123) and unknown fields are an error, not silently dropped
 * (Fastify's defaults do both). Query strings and path parameters are text by nature, so there
 * numbers and booleans are coerced from their text form.
 */
function makeAjv(coerceTypes: boolean): Ajv {
  const ajv = new Ajv({
    allErrors: true,
    coerceTypes,
    removeAdditional: false,
    useDefaults: true,
    strict: false,
  });
  addFormats.default(ajv);
  return ajv;
}

const bodyAjv = makeAjv(false);
const urlAjv = makeAjv(true);

export const schemaCompiler: FastifySchemaCompiler<unknown> = ({ schema, httpPart }) => {
  const ajv = httpPart === 'body' ? bodyAjv : urlAjv;
  return ajv.compile(schema as object) as ValidateFunction;
};

/**
 * A body validator for two object shapes told apart by one key, such as a single request or a
 * batch `{requests: [...]}`. Ajv's anyOf would report the errors of both shapes at once; this
 * reports those of the shape the body is meant to have (the one with `key` when it is present).
 */
export function compileBranches(key: string, withKey: object, without: object): ValidateFunction {
  const [keyed, other] = [bodyAjv.compile(withKey), bodyAjv.compile(without)];
  const validate = ((data: unknown) => {
    const branch = typeof data === 'object' && data !== null && Object.hasOwn(data, key) ? keyed : other;
    const valid = branch(data);
    validate.errors = branch.errors ?? null;
    return valid;
  }) as ValidateFunction;
  return validate;
}
