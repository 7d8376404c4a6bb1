-- docker-compose Postgres: the application database and the registry's own.
CREATE DATABASE dbb;
CREATE DATABASE dbb_registry;
