-- 100 consecutive articles changed in one statement; each client has its own
-- blocks of 100 (client 0 the even ones, client 1 the odd ones), so the
-- clients never wait for each other's row locks.
\set b random(0, 499)
UPDATE public.articles SET n = n + 1, at = clock_timestamp()
 WHERE id BETWEEN (:b * 2 + :client_id) * 100 + 1 AND (:b * 2 + :client_id) * 100 + 100;
