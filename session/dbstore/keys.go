package dbstore

import (
	"context"
	"fmt"
)

// keysBatch is how many session keys Keys returns at most.
const keysBatch = 500

// Keys implements blob.Lister: the session keys after after, in order, at
// most keysBatch of them, expired or not.
func (b *Backend) Keys(ctx context.Context, after string) ([]string, error) {
	if err := b.Init(ctx); err != nil {
		return nil, err
	}
	rows, err := b.reader.QueryContext(ctx, b.keysSQL, after)
	if err != nil {
		return nil, fmt.Errorf("listing sessions: %w", err)
	}
	defer rows.Close()
	var keys []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, fmt.Errorf("listing sessions: %w", err)
		}
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing sessions: %w", err)
	}
	return keys, nil
}
