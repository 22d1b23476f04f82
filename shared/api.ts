import { z } from 'zod';

/** Wire types both binaries (and clients) share: changing one changes an HTTP contract (README "API"). */

export const TIERS = ['hot', 'warm', 'cold'] as const;
export type Tier = (typeof TIERS)[number];
export const sha256HexSchema = z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 lowercase hex characters');

/** 201 from `POST /api/v1/upload/sessions`. */
export interface SessionResponse {
  session_id: string;
  upload_url: string;
  tus_url: string;
  token: string;
  pool_id: string;
  node_id: string;
  expires_at: string;
  max_size: number;
}

/** 200 from `POST /api/v1/upload/sessions` when this user already stored a file with that sha256. */
export interface DuplicateResponse {
  duplicate: true;
  image_uuid: string;
  sha256: string;
  size: number;
  mime: string;
  urls: { original: string };
}

/**
 * The node's direct upload (`POST`, the session token as bearer; `HEAD` says what it takes). It
 * is a public API, called by browsers and apps, so it lives beside the coordinator's `/api/v1/`
 * routes; `/api/internal/` is left to calls between nodes and the coordinator.
 */
export const UPLOAD_PATH = '/api/v1/upload';
/**
 * Where UPLOAD_PATH was before; nodes still answer it, with the same handler, for one release:
 * nodes registered earlier keep it in their upload URL, and clients may have kept an `upload_url`.
 */
export const LEGACY_UPLOAD_PATH = '/api/internal/upload';
/** The node's tus endpoint: sessions answer it as `tus_url` (the node's base URL + this path). */
export const TUS_PATH = '/api/internal/tus';

/** 201 from the node's `POST {UPLOAD_PATH}`: the file is durable on disk. */
export interface UploadResponse {
  image_uuid: string;
  sha256: string;
  size: number;
  mime: string;
  pool_id: string;
  node_id: string;
  status: 'processing';
  urls: { original: string };
}

/** Node → coordinator: an upload finished (report `upload.complete`, shared/reports.ts). */
export const uploadCompleteSchema = z.object({
  session_id: z.string().min(1),
  image_uuid: z.string().uuid(),
  user_id: z.string().min(1),
  node_id: z.string().min(1),
  pool_id: z.string().min(1),
  rel_path: z.string().min(1),
  size: z.number().int().nonnegative(),
  sha256: sha256HexSchema,
  mime: z.string().min(1),
  created_at: z.string(),
});
export type UploadComplete = z.infer<typeof uploadCompleteSchema>;

/** `aud` of every token a node signs for the coordinator (shared/reports.ts lists the purposes). */
export const COORDINATOR_AUDIENCE = 'fennec-coordinator';

/** One variant file of an image, as the node made it (path relative to the pool). */
export const variantFileSchema = z.object({
  name: z.string().min(1),
  rel_path: z.string().min(1),
  width: z.number().int().positive(),
  height: z.number().int().positive(),
  bytes: z.number().int().nonnegative(),
  mime: z.string().min(1),
});
export type VariantFileInfo = z.infer<typeof variantFileSchema>;

export const IMAGE_EVENTS = ['image.thumbnails_ready', 'image.ready', 'image.failed'] as const;
export type ImageEventType = (typeof IMAGE_EVENTS)[number];

/**
 * Node → coordinator: the variant job reached a milestone (the report of the same kind,
 * shared/reports.ts). Carries the whole state so far, so delivering
 * it twice or late changes nothing.
 */
export const imageEventSchema = z.object({
  event: z.enum(IMAGE_EVENTS),
  image_uuid: z.string().uuid(),
  node_id: z.string().min(1),
  pool_id: z.string().min(1),
  width: z.number().int().positive().nullable(),
  height: z.number().int().positive().nullable(),
  format: z.string().nullable(),
  variants: z.array(variantFileSchema),
  reason: z.string().nullable(),
  at: z.string(),
});
export type ImageEvent = z.infer<typeof imageEventSchema>;
