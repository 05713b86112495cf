package store

import "github.com/mochi-mqtt/server/v2/hooks/storage"

// SessionRecords returns the records that store client c's persistent session with its
// subscriptions subs, exactly as the session hook writes them (for seeding a store in
// benchmarks and tools; c.ID must not be empty or contain U+0000).
func SessionRecords(c storage.Client, subs []storage.Subscription) ([]Record, error) {
	v, err := encodeClient(c)
	if err != nil {
		return nil, err
	}
	recs := make([]Record, 0, 1+len(subs))
	recs = append(recs, Record{Key: sessionKey(c.ID), Value: v})
	for _, s := range subs {
		recs = append(recs, Record{Key: append(sessionKey(c.ID), s.Filter...), Value: encodeSub(s)})
	}
	return recs, nil
}
