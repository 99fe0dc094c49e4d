// Package controller runs Berth's background controllers: on one server at
// a time, the leader elected through etcd, each as a level-triggered loop
// that reconciles whenever the stored state changes (and when it asked to
// be woken), never from a queue of events that a crash could lose.
package controller

import (
	"context"
	"log/slog"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// LeaseTTL is how long a leader that vanished (kill -9, lost network) keeps
// the lead: the time before another server takes over.
const LeaseTTL = 5 // seconds

// RunAsLeader campaigns for the lead under key and runs lead while it
// holds it, with a context that ends when the lead is lost. It campaigns
// again after losing it, until ctx ends.
func RunAsLeader(ctx context.Context, cli *clientv3.Client, key, id string, log *slog.Logger, lead func(ctx context.Context)) {
	for ctx.Err() == nil {
		session, err := concurrency.NewSession(cli, concurrency.WithTTL(LeaseTTL), concurrency.WithContext(ctx))
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("leader election: no etcd session", "err", err)
				sleep(ctx, time.Second)
			}
			continue
		}
		election := concurrency.NewElection(session, key)
		if err := election.Campaign(ctx, id); err != nil {
			session.Close()
			if ctx.Err() == nil {
				log.Warn("leader election: campaign failed", "err", err)
				sleep(ctx, time.Second)
			}
			continue
		}
		log.Info("leading: running the controllers", "id", id)
		leadCtx, cancel := context.WithCancel(ctx)
		go func() {
			select {
			case <-session.Done():
				cancel() // the lease is gone: another server may lead now
			case <-leadCtx.Done():
			}
		}()
		lead(leadCtx)
		cancel()
		resign, done := context.WithTimeout(context.Background(), 2*time.Second)
		election.Resign(resign)
		done()
		session.Close()
		if ctx.Err() == nil {
			log.Warn("lost the lead; campaigning again")
		}
	}
}

// Loop runs reconcile whenever changed fires, and when the duration it
// last returned has passed (zero: only on change), until ctx ends.
// Changes that arrive while a pass runs are folded into the next pass.
func Loop(ctx context.Context, changed func() <-chan struct{}, reconcile func(context.Context) time.Duration) {
	for ctx.Err() == nil {
		ch := changed() // taken before reading, so no change goes unseen
		next := reconcile(ctx)
		if next <= 0 {
			next = time.Hour // nothing due: only a change wakes it
		}
		timer := time.NewTimer(next)
		select {
		case <-ctx.Done():
		case <-ch:
		case <-timer.C:
		}
		timer.Stop()
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// Earliest of two wake-up times, the zero time meaning none: what a pass
// answers when several things it waits for fall due at different times.
func Earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}
