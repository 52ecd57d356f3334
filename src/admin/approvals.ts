import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { AigovError } from '../errors.js';
import { approvalView } from '../approvals/store.js';
import type { Services } from '../services.js';
import { adminRoute, badInput, error } from './route-doc.js';
import { approvalList, approvalView as approvalViewSchema } from './schemas.js';

export const approvalIdParams = z
  .object({ id: z.string().regex(/^apr_[A-Za-z0-9_-]{1,64}$/, 'not an approval id') })
  .strict();

export const approvalsQuery = z
  .object({
    state: z.enum(['pending', 'approved', 'denied', 'used', 'expired']).optional(),
    limit: z.coerce.number().int().min(1).max(500).default(100),
  })
  .strict();

export const approvalDecisionBody = z
  .object({
    /** Who decided (shown in the audit of the approval); the admin token itself has no identity. */
    by: z.string().trim().min(1).max(254).optional(),
    reason: z.string().max(2_000).optional(),
  })
  .strict()
  .prefault({});

type Parse = <S extends z.ZodType>(schema: S, value: unknown, what: string) => z.output<S>;

/** Tool-call approvals (docs/mcp.md): list them, approve or deny a pending one. */
export function registerApprovalRoutes(admin: FastifyInstance, services: Services, parse: Parse): void {
  admin.get(
    '/approvals',
    adminRoute({
      summary: 'List tool-call approvals, newest first',
      description: 'Optionally only those in one state.',
      tag: 'Admin: approvals',
      role: 'operator',
      querystring: approvalsQuery,
      responses: { 200: { description: 'The approvals', schema: approvalList }, 400: badInput('query') },
    }),
    async (request) => {
      const q = parse(approvalsQuery, request.query, 'query');
      const rows = await services.approvals.list({ limit: q.limit, ...(q.state ? { state: q.state } : {}) });
      const now = new Date();
      return { data: rows.map((a) => approvalView(a, now)) };
    },
  );

  admin.get(
    '/approvals/:id',
    adminRoute({
      summary: 'One tool-call approval',
      tag: 'Admin: approvals',
      role: 'operator',
      params: approvalIdParams,
      responses: {
        200: { description: 'The approval', schema: approvalViewSchema },
        400: badInput('approval id'),
      },
    }),
    async (request) => {
      const { id } = parse(approvalIdParams, request.params, 'approval id');
      const a = await services.approvals.get(id);
      if (!a) throw new AigovError('not_found', { message: `No approval ${id}` });
      return approvalView(a);
    },
  );

  for (const action of ['approve', 'deny'] as const) {
    admin.post(
      `/approvals/:id/${action}`,
      adminRoute({
        summary: action === 'approve' ? 'Approve a pending tool call' : 'Deny a pending tool call',
        description:
          action === 'approve'
            ? 'The caller retries the same call (same key, tool and arguments) to use the approval once.'
            : 'The call stays refused; a retry asks for a new approval.',
        tag: 'Admin: approvals',
        role: 'operator',
        params: approvalIdParams,
        body: approvalDecisionBody,
        responses: {
          200: { description: 'The decided approval', schema: approvalViewSchema },
          400: badInput('approval id or decision'),
          409: error('Already decided, or expired'),
        },
      }),
      async (request) => {
        const { id } = parse(approvalIdParams, request.params, 'approval id');
        const body = parse(approvalDecisionBody, request.body, 'decision');
        const result = await services.approvals.decide(
          id,
          action === 'approve' ? 'approved' : 'denied',
          body.by ?? null,
          body.reason ?? null,
        );
        if (!result.ok) {
          if (result.reason === 'not_found')
            throw new AigovError('not_found', { message: `No approval ${id}` });
          throw new AigovError('conflict', {
            message:
              result.reason === 'expired'
                ? `Approval ${id} has expired; the caller must retry to request a new one`
                : `Approval ${id} was already decided`,
          });
        }
        services.logger.info(
          { admin: `approval.${action}`, approvalId: id, by: body.by ?? null, ip: request.ip },
          `admin ${action === 'approve' ? 'approved' : 'denied'} a tool call`,
        );
        return approvalView(result.approval);
      },
    );
  }
}
