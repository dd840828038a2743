-- 100 new articles in one statement and transaction: the trigger's cost dominates.
\set n random(1, 1000000)
INSERT INTO public.articles (title, body, n, published, at)
SELECT 'Article ' || (:n + g), repeat('lorem ipsum ', 25), :n + g, g % 2 = 0, clock_timestamp()
  FROM generate_series(1, 100) AS g;
