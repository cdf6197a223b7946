DROP TABLE attempt_counts;
DROP TABLE password_links;
DROP TABLE sessions;
