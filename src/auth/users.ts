import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { AppError } from '../errors.js';
import type { Role } from './tokens.js';

export interface User {
  id: string;
  username: string;
  role: Role;
  passwordHash: string;
}

const UNIQUE_VIOLATION = '23505';

interface UserRow {
  id: string;
  username: string;
  role: Role;
  password_hash: string;
}

const toUser = (row: UserRow): User => ({
  id: row.id,
  username: row.username,
  role: row.role,
  passwordHash: row.password_hash,
});

/** Users in PostgreSQL. Usernames are citext: unique and looked up case-insensitively. */
export class UserStore {
  constructor(private readonly pool: pg.Pool) {}

  async create(username: string, passwordHash: string, role: Role = 'user'): Promise<User> {
    try {
      const { rows } = await this.pool.query<UserRow>({
        name: 'users.create',
        text: 'INSERT INTO users (id, username, password_hash, role) VALUES ($1, $2, $3, $4) RETURNING *',
        values: [randomUUID(), username, passwordHash, role],
      });
      return toUser(rows[0] as UserRow);
    } catch (error) {
      if ((error as { code?: string }).code === UNIQUE_VIOLATION) throw new AppError('username_taken');
      throw error;
    }
  }

  async findByUsername(username: string): Promise<User | undefined> {
    // PostgreSQL text cannot hold a NUL character, so no stored username has one, and sending it
    // would fail the query (22021) and answer 500; login takes any string, so this is just unknown.
    if (username.includes('\u0000')) return undefined;
    const { rows } = await this.pool.query<UserRow>({
      name: 'users.by-username',
      text: 'SELECT * FROM users WHERE username = $1',
      values: [username],
    });
    return rows[0] && toUser(rows[0]);
  }

  async findById(id: string): Promise<User | undefined> {
    const { rows } = await this.pool.query<UserRow>({
      name: 'users.by-id',
      text: 'SELECT * FROM users WHERE id = $1',
      values: [id],
    });
    return rows[0] && toUser(rows[0]);
  }

  /** Creates the user as an admin, or promotes it (with the new password) if it exists. */
  async upsertAdmin(username: string, passwordHash: string): Promise<User> {
    const { rows } = await this.pool.query<UserRow>({
      name: 'users.upsert-admin',
      text: `INSERT INTO users (id, username, password_hash, role) VALUES ($1, $2, $3, 'admin')
             ON CONFLICT (username) DO UPDATE SET role = 'admin', password_hash = EXCLUDED.password_hash
             RETURNING *`,
      values: [randomUUID(), username, passwordHash],
    });
    return toUser(rows[0] as UserRow);
  }
}
