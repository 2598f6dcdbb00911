-- A public link opens without an account (a guest, viewing only).
ALTER TABLE share_links ADD COLUMN public INTEGER NOT NULL DEFAULT 0;
