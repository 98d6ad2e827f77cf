-- One role and one database per service, idempotent: psql variables name (the role and database)
-- and file (a file holding the role's password; psql reads it itself, so the password is never
-- in a command line). Used at start (lms-postgres-entrypoint) and live (lms-postgres-provision).
\set password `cat :'file'`
SELECT format('CREATE ROLE %I LOGIN', :'name') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'name') \gexec
SELECT format('ALTER ROLE %I WITH LOGIN PASSWORD %L', :'name', :'password') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'name', :'name') WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'name') \gexec
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'name') \gexec
