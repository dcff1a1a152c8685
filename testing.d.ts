/** Where the test databases live and which migrations they hold; all optional. */
export interface TestDatabaseOptions {
  /**
   * URL of a maintenance database on the server, for a role that may create
   * databases. Default: `STRATUM_TEST_ADMIN_URL`, else `DATABASE_URL` with
   * its database replaced by `postgres`, else the server of libpq's `PGHOST`
   * (or `PGHOSTADDR`), `PGPORT`, `PGUSER`, `PGPASSWORD` with libpq's defaults
   * for those not set, database `postgres` (`PGDATABASE`, like `DATABASE_URL`'s
   * database, is the app's), else `postgres://postgres@127.0.0.1:5432/postgres`.
   */
  adminUrl?: string
  /**
   * The migrations directory, resolved as the engine resolves it. Default:
   * `MIGRATIONS_DIR`, else `"stratum": { "dir": … }` in the nearest
   * package.json, else `./migrations`.
   */
  dir?: string
  /**
   * Start of every database name this helper creates: `<prefix>_<pid>_<random>`
   * for test databases, `<prefix>_template_<hash>` for templates. 1 to 20
   * lower-case letters, digits and underscores. Default `stratum_test`.
   */
  prefix?: string
}

/** A database of its own for one test, already migrated. */
export interface TestDatabase {
  /** Connection URL of the new database. */
  url: string
  /** The database's name, `<prefix>_<pid>_<random>`. */
  name: string
  /** Drops the database, ending any session still connected to it. */
  drop(): Promise<void>
}

/**
 * Creates a database that already holds the migrated schema, copied from a
 * template migrated once per set of migration files (a changed file makes a
 * new template). Safe to call from concurrent jest workers.
 */
export declare function createTestDatabase(options?: TestDatabaseOptions): Promise<TestDatabase>

/**
 * Migrates the template for the current migration files unless it exists,
 * e.g. in jest's `globalSetup`, and resolves to its name.
 */
export declare function prepareTemplate(options?: TestDatabaseOptions): Promise<string>

/**
 * Drops every template of `prefix` (a half-built one too), and resolves to
 * their names; test databases made from them are kept.
 */
export declare function dropTemplates(options?: TestDatabaseOptions): Promise<Array<string>>
