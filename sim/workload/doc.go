// Package workload generates the push notifications a provider sends to
// devices, and accounts for what arrived. Schedules are per device and
// lazy: each yields its next send time on demand from a few words of state
// and the device's seeded random source, so a day of 100,000 devices is
// never materialised. Kinds: Poisson arrivals at a rate, a fixed period
// with an offset, bursts of n messages at given instants, and broadcasts
// to a whole group at one instant. A Ledger records sends and deliveries
// and computes delivery latency quantiles, loss, expiry past a TTL and
// duplicates.
package workload
