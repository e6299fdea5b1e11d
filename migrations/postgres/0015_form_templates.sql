-- Consent form templates: a paper form's version and exact words saved once and chosen from a
-- list whenever consent on that form is recorded, for one learner or several at once. The words
-- live in form_texts by their hash, like a consent request's, so every consent recorded on a
-- template can be read back with the words it was given on. A version names one text for good:
-- retiring a template hides it from the list, and its version stays taken.
CREATE TABLE form_templates (
    id             TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    form_version   TEXT NOT NULL UNIQUE,
    form_text_hash TEXT NOT NULL REFERENCES form_texts (hash),
    created_at     BIGINT NOT NULL,
    created_by     TEXT NOT NULL,
    retired_at     BIGINT
);
