-- Migration 001: Initial Schema
-- Description: Every core table of the ISP billing platform: customers,
--   products (Mikrotik profiles), subscriptions, vouchers, PPPoE accounts,
--   payments, settings, admins and their sessions, vendors; the notification
--   queue and WhatsApp sessions, messages and templates; activity and error logs.
--
-- Conventions:
--   * Every statement is safe to run again: CREATE ... IF NOT EXISTS, CREATE OR
--     REPLACE for the function and the triggers, constraints inline only.
--     No BEGIN/COMMIT here: the engine wraps the file in one transaction.
--   * TIMESTAMPTZ for every point in time, NUMERIC(15,2) for money.
--   * Enumerated text columns are VARCHAR with a CHECK, not enum types, so a
--     later migration can widen a list without ALTER TYPE.
--   * Every foreign key states its ON DELETE and has an index whose leading
--     column is the referencing column (a UNIQUE constraint counts).
--   * The tracking table `migrations` belongs to the engine: not created here.

-- ---------------------------------------------------------------------------
-- updated_at: one trigger function, attached to every table with the column.
-- ---------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := NOW();
    RETURN NEW;
END;
$$;

-- ===========================================================================
-- Core
-- ===========================================================================

CREATE TABLE IF NOT EXISTS customers (
    id          SERIAL PRIMARY KEY,
    name        VARCHAR(255) NOT NULL,
    email       VARCHAR(255),
    phone       VARCHAR(50),
    address     TEXT,
    balance     NUMERIC(15,2) NOT NULL DEFAULT 0 CHECK (balance >= 0),
    debt        NUMERIC(15,2) NOT NULL DEFAULT 0 CHECK (debt >= 0),
    is_active   BOOLEAN NOT NULL DEFAULT TRUE,
    status      VARCHAR(20) NOT NULL DEFAULT 'active'
                CHECK (status IN ('active', 'inactive', 'suspended')),
    notes       TEXT,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
-- Email is unique when present, ignoring case; NULL or '' means "no email".
CREATE UNIQUE INDEX IF NOT EXISTS idx_customers_email_unique
    ON customers (LOWER(email)) WHERE email IS NOT NULL AND email <> '';
CREATE INDEX IF NOT EXISTS idx_customers_phone ON customers (phone);
CREATE INDEX IF NOT EXISTS idx_customers_status ON customers (status);

-- A product: the Mikrotik user profile behind a hotspot or PPPoE plan.
CREATE TABLE IF NOT EXISTS profiles (
    id              SERIAL PRIMARY KEY,
    name            VARCHAR(100) NOT NULL UNIQUE,
    profile_type    VARCHAR(20) NOT NULL CHECK (profile_type IN ('hotspot', 'pppoe')),
    cost_price      NUMERIC(15,2) NOT NULL CHECK (cost_price >= 0),
    selling_price   NUMERIC(15,2) NOT NULL CHECK (selling_price >= 0),
    duration_hours  INTEGER NOT NULL CHECK (duration_hours > 0),
    speed_limit     VARCHAR(50),   -- Mikrotik rate-limit, e.g. '2M/1M'
    data_limit      VARCHAR(50),   -- as Mikrotik writes it, e.g. '1G'
    is_active       BOOLEAN NOT NULL DEFAULT TRUE,
    mikrotik_name   VARCHAR(100),  -- the profile's name on the router
    created_at      TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT NOW()
);

-- Resellers of vouchers. The name is unique (002 seeds a default vendor).
CREATE TABLE IF NOT EXISTS vendors (
    id              SERIAL PRIMARY KEY,
    name            VARCHAR(255) NOT NULL UNIQUE,
    contact_person  VARCHAR(255),
    phone           VARCHAR(50),
    email           VARCHAR(255),
    address         TEXT,
    is_active       BOOLEAN NOT NULL DEFAULT TRUE,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT NOW()
);

CREATE TABLE IF NOT EXISTS subscriptions (
    id                  SERIAL PRIMARY KEY,
    -- A subscription has no meaning without its customer.
    customer_id         INTEGER NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    -- A product in use cannot be deleted: retire it with is_active = false.
    profile_id          INTEGER REFERENCES profiles (id) ON DELETE RESTRICT,
    type                VARCHAR(20) NOT NULL CHECK (type IN ('hotspot', 'pppoe')),
    start_date          TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    end_date            TIMESTAMPTZ NOT NULL,
    billing_cycle       VARCHAR(20) NOT NULL DEFAULT 'monthly'
                        CHECK (billing_cycle IN ('daily', 'weekly', 'monthly', 'one_time')),
    next_billing_date   TIMESTAMPTZ,
    auto_renew          BOOLEAN NOT NULL DEFAULT FALSE,
    status              VARCHAR(20) NOT NULL DEFAULT 'active'
                        CHECK (status IN ('active', 'expired', 'cancelled')),
    price               NUMERIC(15,2) NOT NULL CHECK (price >= 0),
    notes               TEXT,
    created_at          TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    CONSTRAINT subscriptions_end_after_start CHECK (end_date >= start_date)
);
CREATE INDEX IF NOT EXISTS idx_subscriptions_customer_id ON subscriptions (customer_id);
CREATE INDEX IF NOT EXISTS idx_subscriptions_profile_id ON subscriptions (profile_id);
-- The expiry job: status = 'active' AND end_date < now().
CREATE INDEX IF NOT EXISTS idx_subscriptions_status_end_date ON subscriptions (status, end_date);
-- The billing job: active, auto-renewing subscriptions due for billing.
CREATE INDEX IF NOT EXISTS idx_subscriptions_next_billing_date
    ON subscriptions (next_billing_date) WHERE status = 'active' AND auto_renew;

CREATE TABLE IF NOT EXISTS vouchers (
    id               SERIAL PRIMARY KEY,
    batch_id         VARCHAR(50),
    code             VARCHAR(50) NOT NULL UNIQUE CHECK (code ~ '^[A-Z0-9]+$'),
    password         VARCHAR(100) NOT NULL,     -- plain: the app pushes it to the router
    -- Unused vouchers need their profile on the router: retire, don't delete.
    profile_id       INTEGER REFERENCES profiles (id) ON DELETE RESTRICT,
    -- A voucher outlives the vendor who sold it, and the customer who used it.
    vendor_id        INTEGER REFERENCES vendors (id) ON DELETE SET NULL,
    customer_id      INTEGER REFERENCES customers (id) ON DELETE SET NULL,
    price_sell       NUMERIC(15,2) NOT NULL CHECK (price_sell >= 0),
    price_cost       NUMERIC(15,2) NOT NULL CHECK (price_cost >= 0),
    status           VARCHAR(20) NOT NULL DEFAULT 'unused'
                     CHECK (status IN ('unused', 'used', 'expired', 'disabled')),
    used_at          TIMESTAMPTZ,
    expires_at       TIMESTAMPTZ,
    duration_hours   INTEGER NOT NULL CHECK (duration_hours > 0),
    expired_hours    INTEGER CHECK (expired_hours > 0),
    mikrotik_synced  BOOLEAN NOT NULL DEFAULT FALSE,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX IF NOT EXISTS idx_vouchers_batch_id ON vouchers (batch_id);
CREATE INDEX IF NOT EXISTS idx_vouchers_status ON vouchers (status);
CREATE INDEX IF NOT EXISTS idx_vouchers_expires_at ON vouchers (expires_at);
CREATE INDEX IF NOT EXISTS idx_vouchers_profile_id ON vouchers (profile_id);
CREATE INDEX IF NOT EXISTS idx_vouchers_vendor_id ON vouchers (vendor_id);
CREATE INDEX IF NOT EXISTS idx_vouchers_customer_id ON vouchers (customer_id);

CREATE TABLE IF NOT EXISTS pppoe_users (
    id             SERIAL PRIMARY KEY,
    username       VARCHAR(100) NOT NULL UNIQUE,
    password       VARCHAR(255) NOT NULL,       -- plain: the app pushes it to the router
    -- The account row tells the app which router secret to remove, so it
    -- survives its customer's deletion.
    customer_id    INTEGER REFERENCES customers (id) ON DELETE SET NULL,
    profile_id     INTEGER REFERENCES profiles (id) ON DELETE RESTRICT,
    status         VARCHAR(20) NOT NULL DEFAULT 'active'
                   CHECK (status IN ('active', 'inactive', 'expired', 'disabled')),
    expires_at     TIMESTAMPTZ,
    mikrotik_name  VARCHAR(100),
    created_at     TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX IF NOT EXISTS idx_pppoe_users_customer_id ON pppoe_users (customer_id);
CREATE INDEX IF NOT EXISTS idx_pppoe_users_profile_id ON pppoe_users (profile_id);
CREATE INDEX IF NOT EXISTS idx_pppoe_users_status ON pppoe_users (status);
CREATE INDEX IF NOT EXISTS idx_pppoe_users_expires_at ON pppoe_users (expires_at);

-- Money received is never deleted with the rows it refers to: the links go NULL.
CREATE TABLE IF NOT EXISTS payments (
    id               SERIAL PRIMARY KEY,
    customer_id      INTEGER REFERENCES customers (id) ON DELETE SET NULL,
    subscription_id  INTEGER REFERENCES subscriptions (id) ON DELETE SET NULL,
    vendor_id        INTEGER REFERENCES vendors (id) ON DELETE SET NULL,
    amount           NUMERIC(15,2) NOT NULL CHECK (amount > 0),
    method           VARCHAR(50),                -- cash, transfer, a gateway's name...
    status           VARCHAR(20) NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'paid', 'failed', 'cancelled')),
    transaction_id   VARCHAR(255),               -- the payment gateway's id
    notes            TEXT,
    payment_date     TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    created_at       TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX IF NOT EXISTS idx_payments_customer_id ON payments (customer_id);
CREATE INDEX IF NOT EXISTS idx_payments_subscription_id ON payments (subscription_id);
CREATE INDEX IF NOT EXISTS idx_payments_vendor_id ON payments (vendor_id);
CREATE INDEX IF NOT EXISTS idx_payments_status ON payments (status);
CREATE INDEX IF NOT EXISTS idx_payments_payment_date ON payments (payment_date);
CREATE INDEX IF NOT EXISTS idx_payments_transaction_id ON payments (transaction_id);

CREATE TABLE IF NOT EXISTS settings (
    key          VARCHAR(100) PRIMARY KEY,
    value        TEXT,
    description  TEXT,
    type         VARCHAR(20) NOT NULL DEFAULT 'string'
                 CHECK (type IN ('string', 'number', 'boolean', 'json')),
    category     VARCHAR(50) NOT NULL DEFAULT 'general',
    created_at   TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX IF NOT EXISTS idx_settings_category ON settings (category);

CREATE TABLE IF NOT EXISTS admin_users (
    id                    SERIAL PRIMARY KEY,
    username              VARCHAR(50) NOT NULL UNIQUE,
    password_hash         VARCHAR(255) NOT NULL,   -- bcrypt
    email                 VARCHAR(255),
    full_name             VARCHAR(255),
    role                  VARCHAR(20) NOT NULL DEFAULT 'operator'
                          CHECK (role IN ('super_admin', 'admin', 'operator')),
    permissions           JSONB NOT NULL DEFAULT '{}'::jsonb,
    is_active             BOOLEAN NOT NULL DEFAULT TRUE,
    last_login            TIMESTAMPTZ,
    must_change_password  BOOLEAN NOT NULL DEFAULT FALSE,
    created_at            TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at            TIMESTAMPTZ NOT NULL DEFAULT NOW()
);

CREATE TABLE IF NOT EXISTS user_sessions (
    id             SERIAL PRIMARY KEY,
    -- A session dies with its admin.
    user_id        INTEGER NOT NULL REFERENCES admin_users (id) ON DELETE CASCADE,
    session_token  VARCHAR(255) NOT NULL UNIQUE,
    ip_address     INET,
    user_agent     TEXT,
    expires_at     TIMESTAMPTZ NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX IF NOT EXISTS idx_user_sessions_user_id ON user_sessions (user_id);
CREATE INDEX IF NOT EXISTS idx_user_sessions_expires_at ON user_sessions (expires_at);

-- ===========================================================================
-- Communication
-- ===========================================================================

CREATE TABLE IF NOT EXISTS whatsapp_sessions (
    id             SERIAL PRIMARY KEY,
    session_id     VARCHAR(100) NOT NULL UNIQUE,
    session_name   VARCHAR(255),
    phone_number   VARCHAR(50),
    status         VARCHAR(20) NOT NULL DEFAULT 'disconnected'
                   CHECK (status IN ('disconnected', 'connecting', 'connected', 'scanning', 'error')),
    qr_code        TEXT,
    session_data   JSONB,
    last_activity  TIMESTAMPTZ,
    priority       INTEGER NOT NULL DEFAULT 0,
    is_active      BOOLEAN NOT NULL DEFAULT TRUE,
    is_default     BOOLEAN NOT NULL DEFAULT FALSE,
    webhook_url    TEXT,
    metadata       JSONB DEFAULT '{}'::jsonb,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT NOW()
);

CREATE TABLE IF NOT EXISTS whatsapp_messages (
    id             BIGSERIAL PRIMARY KEY,
    -- Message history outlives a removed session; a renamed session id follows.
    session_id     VARCHAR(100) REFERENCES whatsapp_sessions (session_id)
                   ON DELETE SET NULL ON UPDATE CASCADE,
    message_id     VARCHAR(255),                 -- WhatsApp's id, for delivery receipts
    recipient      VARCHAR(50) NOT NULL,
    content        TEXT,
    status         VARCHAR(20) NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'sent', 'delivered', 'read', 'failed')),
    sent_at        TIMESTAMPTZ,
    error_message  TEXT,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX IF NOT EXISTS idx_whatsapp_messages_session_id ON whatsapp_messages (session_id);
CREATE INDEX IF NOT EXISTS idx_whatsapp_messages_message_id ON whatsapp_messages (message_id);
CREATE INDEX IF NOT EXISTS idx_whatsapp_messages_status ON whatsapp_messages (status);

-- template_content holds {variable} placeholders; `variables` lists their names.
CREATE TABLE IF NOT EXISTS whatsapp_templates (
    id                SERIAL PRIMARY KEY,
    name              VARCHAR(100) NOT NULL,
    category          VARCHAR(50) NOT NULL DEFAULT 'general',
    template_content  TEXT NOT NULL,
    variables         JSONB NOT NULL DEFAULT '[]'::jsonb
                      CHECK (jsonb_typeof(variables) = 'array'),
    is_active         BOOLEAN NOT NULL DEFAULT TRUE,
    is_default        BOOLEAN NOT NULL DEFAULT FALSE,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    CONSTRAINT whatsapp_templates_name_category_key UNIQUE (name, category)
);

CREATE TABLE IF NOT EXISTS notification_queue (
    id               BIGSERIAL PRIMARY KEY,
    channel          VARCHAR(20) NOT NULL DEFAULT 'whatsapp',
    recipient        VARCHAR(255) NOT NULL,
    subject          VARCHAR(255),
    content          TEXT,
    priority         SMALLINT NOT NULL DEFAULT 5 CHECK (priority BETWEEN 0 AND 10),
    status           VARCHAR(20) NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'processing', 'sent', 'failed', 'cancelled')),
    send_after       TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    sent_at          TIMESTAMPTZ,
    attempts         INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    error_message    TEXT,
    -- Pending messages about a deleted customer or subscription are not sent.
    customer_id      INTEGER REFERENCES customers (id) ON DELETE CASCADE,
    subscription_id  INTEGER REFERENCES subscriptions (id) ON DELETE CASCADE,
    template_name    VARCHAR(100),
    variables        JSONB DEFAULT '{}'::jsonb,
    message_type     VARCHAR(50),
    created_at       TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    -- Either the text itself or a template to render it from.
    CONSTRAINT notification_queue_has_body CHECK (content IS NOT NULL OR template_name IS NOT NULL)
);
-- The sender's poll: status = 'pending' AND send_after <= now().
CREATE INDEX IF NOT EXISTS idx_notification_queue_pending_send_after
    ON notification_queue (send_after) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS idx_notification_queue_status ON notification_queue (status);
CREATE INDEX IF NOT EXISTS idx_notification_queue_customer_id ON notification_queue (customer_id);
CREATE INDEX IF NOT EXISTS idx_notification_queue_subscription_id ON notification_queue (subscription_id);

-- ===========================================================================
-- Logging: append-only (no updated_at). user_id has no foreign key on
-- purpose: it may name an admin, a customer or a vendor (see user_type), and
-- a log row must outlive the user it mentions. ip_address is stored as
-- received (text), so an odd proxy header never makes a log write fail.
-- ===========================================================================

CREATE TABLE IF NOT EXISTS user_activity_logs (
    id           BIGSERIAL PRIMARY KEY,
    user_type    VARCHAR(20),                    -- admin, customer, vendor, system
    user_id      INTEGER,
    action       VARCHAR(100) NOT NULL,
    target_type  VARCHAR(50),
    target_id    VARCHAR(100),                   -- text: a target may be a settings key
    details      JSONB,
    ip_address   VARCHAR(100),
    user_agent   TEXT,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX IF NOT EXISTS idx_user_activity_logs_user ON user_activity_logs (user_type, user_id);
CREATE INDEX IF NOT EXISTS idx_user_activity_logs_created_at ON user_activity_logs (created_at);

CREATE TABLE IF NOT EXISTS error_logs (
    id           BIGSERIAL PRIMARY KEY,
    level        VARCHAR(20) NOT NULL DEFAULT 'error',
    message      TEXT NOT NULL,
    stack_trace  TEXT,
    details      JSONB,
    user_id      INTEGER,
    ip_address   VARCHAR(100),
    user_agent   TEXT,
    path         TEXT,
    method       VARCHAR(10),
    created_at   TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX IF NOT EXISTS idx_error_logs_created_at ON error_logs (created_at);
CREATE INDEX IF NOT EXISTS idx_error_logs_level ON error_logs (level);

-- ===========================================================================
-- updated_at triggers: exactly the tables that have the column.
-- ===========================================================================
CREATE OR REPLACE TRIGGER trg_customers_updated_at
    BEFORE UPDATE ON customers FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE OR REPLACE TRIGGER trg_profiles_updated_at
    BEFORE UPDATE ON profiles FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE OR REPLACE TRIGGER trg_vendors_updated_at
    BEFORE UPDATE ON vendors FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE OR REPLACE TRIGGER trg_subscriptions_updated_at
    BEFORE UPDATE ON subscriptions FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE OR REPLACE TRIGGER trg_vouchers_updated_at
    BEFORE UPDATE ON vouchers FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE OR REPLACE TRIGGER trg_pppoe_users_updated_at
    BEFORE UPDATE ON pppoe_users FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE OR REPLACE TRIGGER trg_payments_updated_at
    BEFORE UPDATE ON payments FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE OR REPLACE TRIGGER trg_settings_updated_at
    BEFORE UPDATE ON settings FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE OR REPLACE TRIGGER trg_admin_users_updated_at
    BEFORE UPDATE ON admin_users FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE OR REPLACE TRIGGER trg_user_sessions_updated_at
    BEFORE UPDATE ON user_sessions FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE OR REPLACE TRIGGER trg_whatsapp_sessions_updated_at
    BEFORE UPDATE ON whatsapp_sessions FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE OR REPLACE TRIGGER trg_whatsapp_messages_updated_at
    BEFORE UPDATE ON whatsapp_messages FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE OR REPLACE TRIGGER trg_whatsapp_templates_updated_at
    BEFORE UPDATE ON whatsapp_templates FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE OR REPLACE TRIGGER trg_notification_queue_updated_at
    BEFORE UPDATE ON notification_queue FOR EACH ROW EXECUTE FUNCTION set_updated_at();
