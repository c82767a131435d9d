-- The publisher's values tables keep free room on each page, as indicator_counts does (0008), so
-- that a refresh updating the rows that changed (it no longer replaces the tables whole) updates
-- them in place (HOT) instead of writing new versions elsewhere plus new entries in their
-- five-column text primary keys. None of the updated columns is indexed.
--
-- In `kpi bench`'s end to end (1,000,000 events, 13 refreshes) with pages packed full, 6,914 of
-- indicator_values' 66,755 updates were HOT (5,189 of 50,418 in indicator_values_published);
-- with fillfactor 70, 46,758 of 67,080 (36,669 of 50,377).
--
-- The setting applies to pages written from now on: the publisher's first refresh after a
-- restart writes the tables whole, and so repacks them.
ALTER TABLE indicator_values SET (fillfactor = 70);
ALTER TABLE indicator_values_published SET (fillfactor = 70);
ALTER TABLE indicator_spc SET (fillfactor = 70);
