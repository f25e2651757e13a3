import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { AppError } from '../../errors.js';
import { builtinHandlers } from './builtins.js';
import type { HandlerDefinition, HandlerMap } from './types.js';

interface Entry {
  definition: HandlerDefinition;
  validate: ValidateFunction;
}

/** Object schemas refuse unknown fields unless the handler says otherwise. */
function closeObjects(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(closeObjects);
  if (typeof schema !== 'object' || schema === null) return schema;
  const copy: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema)) copy[key] = closeObjects(value);
  if ('properties' in copy && !('additionalProperties' in copy)) copy.additionalProperties = false;
  return copy;
}

/** The request types this deployment runs: their payload schemas (for enqueue) and handlers. */
export class HandlerRegistry {
  private readonly entries = new Map<string, Entry>();
  private readonly ajv: Ajv;

  constructor(handlers: HandlerMap = {}) {
    this.ajv = new Ajv({ allErrors: true, strict: false, coerceTypes: false });
    addFormats.default(this.ajv);
    for (const [type, definition] of Object.entries(handlers)) this.register(type, definition);
  }

  register(type: string, definition: HandlerDefinition): void {
    if (!/^[A-Za-z0-9_.:-]{1,64}$/.test(type)) throw new Error(`invalid handler type name: ${type}`);
    if (typeof definition?.run !== 'function' || typeof definition.schema !== 'object') {
      throw new Error(`handler ${type} must have a schema object and a run function`);
    }
    const schema = closeObjects(definition.schema) as Record<string, unknown>;
    this.entries.set(type, { definition: { ...definition, schema }, validate: this.ajv.compile(schema) });
  }

  get(type: string): HandlerDefinition | undefined {
    return this.entries.get(type)?.definition;
  }

  types(): { type: string; description: string; schema: Record<string, unknown> }[] {
    return [...this.entries].map(([type, { definition }]) => ({
      type,
      description: definition.description ?? '',
      schema: definition.schema,
    }));
  }

  /** Throws 400 unknown_type or validation_failed (details name `${field}` inside the payload). */
  validatePayload(type: string, payload: unknown, fieldPrefix = 'payload'): void {
    const entry = this.entries.get(type);
    if (!entry) throw new AppError('unknown_type', `No handler runs requests of type "${type}".`, { type });
    if (entry.validate(payload)) return;
    const details = (entry.validate.errors ?? []).map((issue) => ({
      field: `${fieldPrefix}${issue.instancePath.replace(/\//g, '.')}${
        issue.keyword === 'additionalProperties' ? `.${String(issue.params.additionalProperty)}` : ''
      }`,
      message: issue.keyword === 'additionalProperties' ? 'is not allowed' : (issue.message ?? 'is invalid'),
    }));
    throw new AppError('validation_failed', `The payload does not match the schema of type "${type}".`, details);
  }
}

/** Built-ins plus the handler modules named in HANDLERS (each exports `handlers`: type -> handler). */
export async function loadHandlers(modules: string, httpAllowedHosts: string): Promise<HandlerRegistry> {
  const registry = new HandlerRegistry(builtinHandlers(httpAllowedHosts.split(',')));
  for (const path of modules.split(',').map((item) => item.trim()).filter(Boolean)) {
    const specifier = path.startsWith('.') || path.startsWith('/') ? pathToFileURL(resolve(path)).href : path;
    const loaded = (await import(specifier)) as { handlers?: HandlerMap; default?: { handlers?: HandlerMap } };
    const handlers = loaded.handlers ?? loaded.default?.handlers;
    if (!handlers) throw new Error(`handler module ${path} exports no \`handlers\` map`);
    for (const [type, definition] of Object.entries(handlers)) registry.register(type, definition);
  }
  return registry;
}
