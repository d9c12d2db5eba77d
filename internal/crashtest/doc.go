// Package crashtest proves that the engine loses nothing when nodes crash: its test
// starts several Cockpit engine nodes as separate OS processes on one PostgreSQL
// database, kills them with SIGKILL at random moments, restarts them, and checks that
// every instance completed exactly once with complete, ordered history and that every
// job ran at least once, re-running only where a killed node held its lock.
//
// TestRelayFailover runs two such nodes with the outbox relay (embedded NATS, or
// COCKPIT_TEST_NATS_URL), SIGKILLs the node holding the relay's lease, reports how long
// events paused until the other node took it over, and checks that every event reached
// the stream exactly once, in order per instance.
//
// TestKillDuringOperation runs two nodes that work off a bulk cancel of 3,000 instances
// (an operation, throttled), SIGKILLs the node holding locked items once a tenth is
// done, and checks that the other node finishes it with every item done exactly once:
// one outcome and one audit row per item, one instance.cancelled event per instance.
//
// It runs when COCKPIT_TEST_DATABASE_URL is set (as .ci/run sets it). The variant that
// restarts PostgreSQL itself mid-run also needs COCKPIT_TEST_PG_RESTART=1 and the right
// to run pg_ctlcluster; .ci/run runs it on its own, after the other suites.
package crashtest
