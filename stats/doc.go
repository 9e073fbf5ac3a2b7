// Package stats records request statistics the way Locust does and hands
// them out in the shapes Locust uses.
//
// A [Collector] is the worker side: many goroutines record finished requests
// through [Recorder] handles, and every few seconds [Collector.Report]
// returns what was recorded since the previous report, like a Python worker's
// stats message. Recording takes no global lock and sends on no channel: the
// collector is split into shards, each with its own mutex, and a record
// goes to the shard of the processor the recording goroutine runs on.
//
// [Totals] is the master side: it merges delta reports like the Locust master
// does and answers the questions Locust's tables and CSV files ask
// (percentiles, median, requests per second). The CSV writers reproduce
// Locust 2.12.1's --csv output byte for byte.
//
// Response times are time.Duration values throughout. Where Locust uses
// milliseconds (histogram keys, CSV columns) the conversion follows Locust:
// a Duration is treated as the float number of milliseconds a Python HttpUser
// would have measured, and histogram keys are rounded half to even exactly as
// Python's round does.
package stats
