-- One article changed per transaction (two of its fields), out of 100,000.
\set id random(1, 100000)
UPDATE public.articles SET n = n + 1, at = clock_timestamp() WHERE id = :id;
