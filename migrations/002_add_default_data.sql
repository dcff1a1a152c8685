-- Migration 002: Add Default Data
-- Description: The defaults a fresh install needs: settings, the first admin
--   (admin / admin123, must change it at first login), a default vendor and
--   the WhatsApp templates the app sends.
--
-- Safe to run again: every INSERT has ON CONFLICT. Rows a user edits later
-- (setting values, the admin, the vendor, the templates) are never
-- overwritten; the admin and the vendor are seeded only into an empty table,
-- so a renamed or deleted default never comes back. Inserts that would find
-- their row already there are filtered out before they reach a SERIAL
-- default, so a re-run does not even advance a sequence.

-- ---------------------------------------------------------------------------
-- Settings. `value` belongs to the user: a re-run never touches it. The
-- description, type and category describe the key itself, so a re-run brings
-- them back to what this file says (and writes nothing when they already are).
-- ---------------------------------------------------------------------------
INSERT INTO settings (key, value, type, category, description) VALUES
    ('company_name',           'ISP Billing',     'string', 'company',  'Company name shown on invoices, vouchers and messages'),
    ('company_address',        '',                'string', 'company',  'Company address'),
    ('company_phone',          '',                'string', 'company',  'Company phone number, for customers to call'),
    ('company_email',          '',                'string', 'company',  'Company email address'),
    ('mikrotik_host',          '192.168.88.1',    'string', 'mikrotik', 'Mikrotik router address'),
    ('mikrotik_port',          '8728',            'number', 'mikrotik', 'Mikrotik API port'),
    ('mikrotik_username',      'admin',           'string', 'mikrotik', 'Mikrotik API user'),
    ('mikrotik_password',      '',                'string', 'mikrotik', 'Mikrotik API password'),
    ('wifi_name',              'Hotspot WiFi',    'string', 'hotspot',  'WiFi network name (SSID) given to customers'),
    ('hotspot_url',            'http://10.5.50.1/login', 'string', 'hotspot', 'Hotspot login page'),
    ('currency',               'IDR',             'string', 'general',  'Currency code (ISO 4217)'),
    ('currency_symbol',        'Rp',              'string', 'general',  'Currency symbol'),
    ('timezone',               'Asia/Jakarta',    'string', 'general',  'Time zone for dates shown and sent'),
    ('date_format',            'DD/MM/YYYY',      'string', 'general',  'Date format for dates shown and sent'),
    ('theme_color',            '#2563eb',         'string', 'appearance', 'Main color of the admin interface'),
    ('voucher_comment_marker', 'VOUCHER_SYSTEM',  'string', 'mikrotik', 'Comment set on hotspot users this app created on the router'),
    ('pppoe_comment_marker',   'PPPOE_SYSTEM',    'string', 'mikrotik', 'Comment set on PPPoE secrets this app created on the router')
ON CONFLICT (key) DO UPDATE
    SET description = EXCLUDED.description,
        type        = EXCLUDED.type,
        category    = EXCLUDED.category
    WHERE (settings.description, settings.type, settings.category)
          IS DISTINCT FROM (EXCLUDED.description, EXCLUDED.type, EXCLUDED.category);

-- ---------------------------------------------------------------------------
-- The first admin: admin / admin123 (bcrypt, cost 10), to be changed at the
-- first login. Only into an empty table, and never updated: a re-run must
-- never reset a password nor bring back a default account that was removed.
-- ---------------------------------------------------------------------------
INSERT INTO admin_users (username, password_hash, full_name, role, is_active, must_change_password)
SELECT 'admin',
       '$2b$10$SJo3JJgZbYCfyw/D4yzZpuvOZxe/1ZMANRr/g0vRW99bxY43zhW02',
       'Administrator',
       'super_admin',
       TRUE,
       TRUE
WHERE NOT EXISTS (SELECT 1 FROM admin_users)
ON CONFLICT (username) DO NOTHING;

-- ---------------------------------------------------------------------------
-- A default vendor for vouchers sold directly. Only into an empty table; the
-- unique name guards against a concurrent insert.
-- ---------------------------------------------------------------------------
INSERT INTO vendors (name, contact_person, is_active)
SELECT 'Default Vendor', 'Administrator', TRUE
WHERE NOT EXISTS (SELECT 1 FROM vendors)
ON CONFLICT (name) DO NOTHING;

-- ---------------------------------------------------------------------------
-- WhatsApp templates (in Indonesian, for the customers). `variables` lists
-- exactly the {placeholders} of template_content. Users reword them, so an
-- existing (name, category) is never overwritten.
-- ---------------------------------------------------------------------------
INSERT INTO whatsapp_templates (name, category, template_content, variables, is_active, is_default)
SELECT t.name, t.category, t.template_content, t.variables, TRUE, TRUE
FROM (VALUES
    ('welcome_hotspot', 'welcome',
'Halo {customer_name},

Terima kasih telah berlangganan *{company_name}*. Berikut akun hotspot Anda:

Username: *{username}*
Password: *{password}*
Paket: {profile_name}
Berlaku sampai: {expires_at}

Sambungkan ke WiFi *{wifi_name}*, lalu login di {hotspot_url}

Bantuan: {company_phone}',
     '["customer_name", "company_name", "username", "password", "profile_name", "expires_at", "wifi_name", "hotspot_url", "company_phone"]'::jsonb),

    ('welcome_pppoe', 'welcome',
'Halo {customer_name},

Selamat bergabung di *{company_name}*. Layanan internet PPPoE Anda sudah aktif.

Username PPPoE: *{username}*
Password: *{password}*
Paket: {profile_name}
Kecepatan: {speed_limit}
Berlaku sampai: {expires_at}

Bantuan: {company_phone}',
     '["customer_name", "company_name", "username", "password", "profile_name", "speed_limit", "expires_at", "company_phone"]'::jsonb),

    ('payment_confirmation', 'payment',
'Halo {customer_name},

Pembayaran Anda telah kami terima. Terima kasih!

Jumlah: {currency_symbol} {amount}
Metode: {payment_method}
Tanggal: {payment_date}
No. transaksi: {transaction_id}
Paket: {profile_name}

*{company_name}*',
     '["customer_name", "currency_symbol", "amount", "payment_method", "payment_date", "transaction_id", "profile_name", "company_name"]'::jsonb),

    ('expiry_warning', 'reminder',
'Halo {customer_name},

Layanan *{profile_name}* Anda akan berakhir dalam {days_left} hari, pada {expires_at}.

Segera lakukan perpanjangan ({currency_symbol} {amount}) agar koneksi Anda tidak terputus.

Info: {company_phone}
*{company_name}*',
     '["customer_name", "profile_name", "days_left", "expires_at", "currency_symbol", "amount", "company_phone", "company_name"]'::jsonb),

    ('service_expired', 'expiry',
'Halo {customer_name},

Layanan *{profile_name}* Anda telah berakhir pada {expires_at} dan koneksi telah dinonaktifkan.

Hubungi {company_phone} untuk perpanjangan.

*{company_name}*',
     '["customer_name", "profile_name", "expires_at", "company_phone", "company_name"]'::jsonb),

    ('service_renewed', 'renewal',
'Halo {customer_name},

Layanan *{profile_name}* Anda telah diperpanjang dan kini berlaku sampai {expires_at}.

Terima kasih atas kepercayaan Anda.
*{company_name}*',
     '["customer_name", "profile_name", "expires_at", "company_name"]'::jsonb)
) AS t (name, category, template_content, variables)
WHERE NOT EXISTS (
    SELECT 1 FROM whatsapp_templates w
    WHERE w.name = t.name AND w.category = t.category
)
ON CONFLICT (name, category) DO NOTHING;
