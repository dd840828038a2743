-- The latency workload: one new article per transaction; "at" is
-- clock_timestamp() when the row is written, just before the commit, and is
-- shipped in the payload, so the fake's arrival time minus "at" is the
-- commit-to-arrival latency (plus the commit itself, so slightly pessimistic).
INSERT INTO public.articles (title, body, n, published, at)
VALUES ('Article', repeat('lorem ipsum ', 25), 1, true, clock_timestamp());
