-- Up Migration
-- Time index of the stored chunks (buffer and archived batches alike) for GET .../strain?t0=&t1=: a chunk
-- covers [t0, t0 + n_samples*dt). float8 → numeric keeps 15 significant digits (≈ 1e-6 s at GPS 1e9), so
-- the query widens its range by a margin and the reader cuts the samples exactly (domains/gw/strain-window.ts).
CREATE INDEX files_span ON files USING gist (numrange(t0::numeric, (t0 + n_samples * dt)::numeric));
-- the chunk nearest a time (the sample grid of a window with no data)
CREATE INDEX files_t0 ON files (datastore_id, t0);
