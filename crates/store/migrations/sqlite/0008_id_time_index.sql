-- PostgreSQL only (an index-only walk of the id order with the time columns); SQLite plans these filters
-- well with the (time, id) indexes of 0003.
SELECT 1;
