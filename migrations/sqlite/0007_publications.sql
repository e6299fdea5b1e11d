-- Every reported publication is its own row: one item can go out on several channels, and a report
-- that arrives after the reporter's lease ran out (or while someone else holds the item) is still a
-- real publication that must come down on withdrawal. The caption and alt text are kept as they were
-- released, so marketing can tell which post to remove even after the photo is edited.
CREATE TABLE publications (
    id           TEXT PRIMARY KEY,
    item_id      TEXT NOT NULL,
    photo_id     TEXT NOT NULL REFERENCES photos (id),
    purpose      TEXT NOT NULL,
    url          TEXT NOT NULL,
    channel      TEXT NOT NULL,
    caption      TEXT NOT NULL,
    alt_text     TEXT NOT NULL,
    published_by TEXT NOT NULL,
    published_at INTEGER NOT NULL
);
CREATE INDEX publications_item ON publications (item_id, published_at);

-- Publications recorded before this table existed: one per item that went out.
INSERT INTO publications (id, item_id, photo_id, purpose, url, channel, caption, alt_text, published_by, published_at)
SELECT pp.item_id, pp.item_id, pp.photo_id, pp.purpose, pp.published_url, COALESCE(pp.published_channel, ''),
       p.caption, p.alt_text, COALESCE(pp.claimed_by, ''), COALESCE(pp.published_at, pp.changed_at)
FROM photo_purposes pp JOIN photos p ON p.id = pp.photo_id
WHERE pp.published_url IS NOT NULL;

-- A takedown is owed per publication; it carries the text as released.
ALTER TABLE takedowns ADD COLUMN publication_id TEXT;
ALTER TABLE takedowns ADD COLUMN caption TEXT NOT NULL DEFAULT '';
ALTER TABLE takedowns ADD COLUMN alt_text TEXT NOT NULL DEFAULT '';
UPDATE takedowns SET publication_id = photo_id || ':' || purpose WHERE publication_id IS NULL;
UPDATE takedowns SET caption = (SELECT pb.caption FROM publications pb WHERE pb.id = takedowns.publication_id),
                     alt_text = (SELECT pb.alt_text FROM publications pb WHERE pb.id = takedowns.publication_id)
WHERE EXISTS (SELECT 1 FROM publications pb WHERE pb.id = takedowns.publication_id);
CREATE INDEX takedowns_publication ON takedowns (publication_id);

-- The name index's version: a counter bumped in the same transaction as every change to a learner,
-- so replicas agree on it whatever their clocks say, and reading it is one row.
CREATE TABLE learners_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO learners_version (id, version) VALUES (1, 1);
