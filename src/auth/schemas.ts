import Type from 'typebox';

/** Shared by the routes, the OpenAPI document and the SDK, so they cannot drift apart. */
export const Username = Type.String({ minLength: 3, maxLength: 64, pattern: '^[A-Za-z0-9_.-]+$' });
export const Password = Type.String({ minLength: 8, maxLength: 256 });

export const Credentials = Type.Object({ username: Username, password: Password }, { additionalProperties: false });

/** Login takes any string: a too-short password is a wrong password, not a malformed request. */
export const LoginBody = Type.Object(
  { username: Type.String({ minLength: 1, maxLength: 256 }), password: Type.String({ minLength: 1, maxLength: 1024 }) },
  { additionalProperties: false },
);

export const RefreshBody = Type.Object(
  { refreshToken: Type.String({ minLength: 1, maxLength: 512 }) },
  { additionalProperties: false },
);

export const PublicUser = Type.Object({
  id: Type.String({ format: 'uuid' }),
  username: Type.String(),
  role: Type.Union([Type.Literal('user'), Type.Literal('admin')]),
});

export const RegisteredUser = Type.Object({ id: Type.String({ format: 'uuid' }), username: Type.String() });

export const TokenPair = Type.Object({
  accessToken: Type.String(),
  refreshToken: Type.String(),
  tokenType: Type.Literal('Bearer'),
  expiresIn: Type.Integer({ description: 'Seconds until the access token expires.' }),
});

export const ErrorResponse = Type.Object({
  error: Type.Object({
    code: Type.String(),
    message: Type.String(),
    details: Type.Optional(Type.Unknown()),
  }),
});
