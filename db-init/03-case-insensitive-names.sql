-- Usernames and emails are one name whatever their letter case: `Alice` and `alice`
-- cannot both exist. The course's own unique constraints stay; these indexes on lower()
-- add the case-insensitive rule, and serve the lookups by name (login) too.
CREATE UNIQUE INDEX users_username_lower_key ON users (lower(username));
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));
