-- A title and tags travel with an image too, so the name check reads them: tags as a JSON array.
ALTER TABLE photos ADD COLUMN title TEXT NOT NULL DEFAULT '';
ALTER TABLE photos ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
