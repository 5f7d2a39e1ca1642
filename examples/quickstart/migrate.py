"""Create the schema and seed a few products (the 'migrate' job)."""

import os

import psycopg

with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
    conn.execute("CREATE TABLE product (id serial PRIMARY KEY, name text NOT NULL, price int)")
    conn.cursor().executemany(
        "INSERT INTO product (name, price) VALUES (%s, %s)",
        [("teapot", 25), ("kettle", 40), ("mug", 8)],
    )
print("migrated: 3 products")
