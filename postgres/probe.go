package postgres

import (
	"context"
	"errors"
	"fmt"
)

// Probe shows that the database still accepts durable writes, for
// readiness: the transaction must not be read-only (default_transaction_read_only,
// a standby after a failover), and txid_current() makes it take a
// transaction id, so that its commit writes a commit record to the WAL and a
// server that cannot write its WAL fails it too.
func (s *Store) Probe(ctx context.Context) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres: write probe: %w", err)
	}
	defer tx.Rollback(ctx)
	var id int64
	var readOnly string
	var recovery bool
	if err := tx.QueryRow(ctx, `SELECT txid_current(), current_setting('transaction_read_only'), pg_is_in_recovery()`).Scan(&id, &readOnly, &recovery); err != nil {
		return fmt.Errorf("postgres: write probe: %w", err)
	}
	if readOnly == "on" || recovery {
		return errors.New("postgres: write probe: the database accepts no writes (read-only transaction or server in recovery)")
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres: write probe: %w", err)
	}
	return nil
}
