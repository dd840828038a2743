-- One new article per transaction: a realistic Directus write.
\set n random(1, 1000000)
INSERT INTO public.articles (title, body, n, published, at)
VALUES ('Article ' || :n, repeat('lorem ipsum ', 25), :n, :n % 2 = 0, clock_timestamp());
