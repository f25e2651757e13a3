import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { claimsOf } from './authenticate.js';
import { Credentials, ErrorResponse, LoginBody, PublicUser, RefreshBody, RegisteredUser, TokenPair } from './schemas.js';
import type { AuthService } from './service.js';

const errors = (...statuses: number[]) => Object.fromEntries(statuses.map((status) => [status, ErrorResponse]));

export const authRoutes: FastifyPluginAsyncTypebox<{ auth: AuthService }> = async (app, { auth }) => {
  app.post(
    '/api/auth/register',
    {
      schema: {
        tags: ['auth'],
        summary: 'Create a user account',
        body: Credentials,
        response: { 201: RegisteredUser, ...errors(400, 409, 413, 415, 429) },
      },
    },
    async (request, reply) => {
      const user = await auth.register(request.body.username, request.body.password, request.ip);
      return reply.code(201).send({ id: user.id, username: user.username });
    },
  );

  app.post(
    '/api/auth/login',
    {
      schema: {
        tags: ['auth'],
        summary: 'Exchange credentials for an access and a refresh token',
        body: LoginBody,
        response: { 200: TokenPair, ...errors(400, 401, 413, 415, 429) },
      },
    },
    async (request) => auth.login(request.body.username, request.body.password, request.ip),
  );

  app.post(
    '/api/auth/refresh',
    {
      schema: {
        tags: ['auth'],
        summary: 'Spend a refresh token for a new token pair',
        body: RefreshBody,
        response: { 200: TokenPair, ...errors(400, 401, 413, 415) },
      },
    },
    async (request) => auth.refresh(request.body.refreshToken),
  );

  app.post(
    '/api/auth/logout',
    {
      onRequest: app.requireAuth,
      schema: {
        tags: ['auth'],
        summary: 'Revoke this session: its access and refresh tokens stop working at once',
        security: [{ bearer: [] }],
        response: { 204: Type.Null(), ...errors(401) },
      },
    },
    async (request, reply) => {
      await auth.logout(claimsOf(request));
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/api/auth/me',
    {
      onRequest: app.requireAuth,
      schema: {
        tags: ['auth'],
        summary: 'The signed-in user',
        security: [{ bearer: [] }],
        response: { 200: PublicUser, ...errors(401) },
      },
    },
    async (request) => auth.me(claimsOf(request)),
  );
};
