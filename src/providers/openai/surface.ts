/**
 * The OpenAI API beyond chat: images, audio, moderations, files and batches. Request shapes,
 * the text each one carries (what policies see), and the text of their answers.
 *
 * Multipart routes (images/edits, audio transcriptions and translations, file uploads) are
 * normalised from their text fields as a flat object of strings (repeated fields as arrays);
 * file parts never reach the normaliser.
 */
import { z } from 'zod';
import type { NormalizeInput, RouteSpec } from '../adapter.js';
import { collectStrings, isPlainObject } from '../text-walk.js';
import type { TextSlot } from '../types.js';
import { parseOrThrow } from '../validation.js';

export const SURFACE_ROUTES: readonly RouteSpec[] = [
  { method: 'POST', path: '/v1/images/generations', kind: 'images', governed: true },
  { method: 'POST', path: '/v1/images/edits', kind: 'images', governed: true, body: 'multipart' },
  { method: 'POST', path: '/v1/audio/speech', kind: 'audio_speech', governed: true, binary: true },
  {
    method: 'POST',
    path: '/v1/audio/transcriptions',
    kind: 'audio_transcription',
    governed: true,
    body: 'multipart',
  },
  {
    method: 'POST',
    path: '/v1/audio/translations',
    kind: 'audio_transcription',
    governed: true,
    body: 'multipart',
  },
  { method: 'POST', path: '/v1/moderations', kind: 'moderations', governed: true },
  { method: 'POST', path: '/v1/files', kind: 'files', governed: true, body: 'multipart' },
  { method: 'GET', path: '/v1/files', kind: 'files', governed: false },
  { method: 'GET', path: '/v1/files/:file_id', kind: 'files', governed: false },
  { method: 'DELETE', path: '/v1/files/:file_id', kind: 'files', governed: false },
  { method: 'GET', path: '/v1/files/:file_id/content', kind: 'files', governed: false, binary: true },
  { method: 'POST', path: '/v1/batches', kind: 'batches', governed: true },
  { method: 'GET', path: '/v1/batches', kind: 'batches', governed: false },
  { method: 'GET', path: '/v1/batches/:batch_id', kind: 'batches', governed: false },
  { method: 'POST', path: '/v1/batches/:batch_id/cancel', kind: 'batches', governed: false },
];

const objectBody = { error: 'expected a JSON object' };
const str = z.string({ error: 'expected a string' });
/** Multipart fields arrive as strings: `stream=true` is a string there, a boolean in JSON. */
const flag = z
  .union([z.boolean(), z.enum(['true', 'false'])], { error: 'expected a boolean' })
  .nullable()
  .optional()
  .transform((v) => v === true || v === 'true');

const imagesBody = z.looseObject(
  { model: str.optional(), prompt: str, stream: flag, metadata: z.unknown().optional() },
  objectBody,
);

const speechBody = z.looseObject(
  {
    model: str,
    input: str,
    instructions: str.nullable().optional(),
    voice: z.unknown().optional(),
    stream_format: str.optional(),
  },
  objectBody,
);

const transcriptionBody = z.looseObject(
  { model: str, prompt: str.optional(), language: str.optional(), stream: flag },
  objectBody,
);

const moderationInput = z.union(
  [str, z.array(str), z.array(z.looseObject({ type: str }, { error: 'expected an input object' }))],
  { error: 'expected a string, an array of strings, or an array of input objects' },
);
const moderationsBody = z.looseObject({ model: str.optional(), input: moderationInput }, objectBody);

const filesBody = z.looseObject({ purpose: str }, objectBody);

const batchesBody = z.looseObject(
  {
    input_file_id: str,
    endpoint: str,
    completion_window: str,
    metadata: z.record(z.string(), z.unknown(), { error: 'expected an object' }).nullable().optional(),
  },
  objectBody,
);

export interface SurfaceFields {
  model: string | null;
  stream: boolean;
  metadata: unknown;
}

/**
 * Texts and envelope fields of a surface route's body, or null when the route is not one of
 * these (chat and friends are handled by normalize.ts).
 */
export function normalizeSurface(input: NormalizeInput, texts: TextSlot[]): SurfaceFields | null {
  switch (input.route) {
    case '/v1/images/generations':
    case '/v1/images/edits': {
      const body = parseOrThrow(imagesBody, input.body);
      texts.push({ path: ['prompt'], role: 'user', text: body.prompt });
      return { model: body.model ?? null, stream: body.stream, metadata: body.metadata };
    }
    case '/v1/audio/speech': {
      const body = parseOrThrow(speechBody, input.body);
      if (typeof body.instructions === 'string')
        texts.push({ path: ['instructions'], role: 'system', text: body.instructions });
      texts.push({ path: ['input'], role: 'user', text: body.input });
      return { model: body.model, stream: false, metadata: undefined };
    }
    case '/v1/audio/transcriptions':
    case '/v1/audio/translations': {
      const body = parseOrThrow(transcriptionBody, input.body);
      if (body.prompt !== undefined) texts.push({ path: ['prompt'], role: 'user', text: body.prompt });
      return { model: body.model, stream: body.stream, metadata: undefined };
    }
    case '/v1/moderations': {
      const body = parseOrThrow(moderationsBody, input.body);
      collectStrings(body.input, ['input'], 'input', texts);
      return { model: body.model ?? null, stream: false, metadata: undefined };
    }
    case '/v1/files': {
      parseOrThrow(filesBody, input.body);
      // The file's content is checked by the upload itself (batch files line by line).
      return { model: null, stream: false, metadata: undefined };
    }
    case '/v1/batches': {
      const body = parseOrThrow(batchesBody, input.body);
      return { model: null, stream: false, metadata: body.metadata };
    }
    default:
      return null;
  }
}

/** Output text of a surface route's JSON answer: the transcript of transcriptions/translations. */
export function surfaceResponseTexts(route: string, body: unknown): TextSlot[] | null {
  if (route !== '/v1/audio/transcriptions' && route !== '/v1/audio/translations') return null;
  if (!isPlainObject(body) || typeof body['text'] !== 'string') return [];
  return [{ path: ['text'], role: 'assistant', text: body['text'] }];
}
