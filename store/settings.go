package store

// Settings returns the stored settings; zero fields are unset. A damaged
// record yields the zero Settings together with an error wrapping
// ErrCorruptRecord, so a caller can log it and carry on with lower layers.
func (s *Store) Settings() (Settings, error) {
	var set Settings
	err := s.view(func(tx kvTx) error {
		v, _, err := getRecord(tx, bucketSettings, keySettings, decodeSettings)
		set = v
		return err
	})
	return set, err
}

// UpdateSettings applies fn to the stored settings and writes the result in
// one transaction; if fn or Validate fails nothing is written. A damaged
// record is replaced: fn starts from zero Settings (and the damage is
// logged), so the setup page can always repair it.
func (s *Store) UpdateSettings(fn func(*Settings) error) error {
	return s.update(func(tx kvTx) error {
		set, _, err := getRecord(tx, bucketSettings, keySettings, decodeSettings)
		if err != nil {
			s.log.Warn("stored settings unreadable; starting from empty settings", "err", err)
			set = Settings{}
		}
		if err := fn(&set); err != nil {
			return err
		}
		if err := set.Validate(); err != nil {
			return err
		}
		return putRecord(tx, bucketSettings, keySettings, settingsRecord{V: recordVersion, Settings: set})
	})
}
