// Package strategy holds keep-alive strategies: when a device sends its
// next application keep-alive, how long it waits for the answer, and how
// it adapts, as production systems do (GCM/FCM, microG, Tencent Mars,
// Apple's PersistentConnection, Telegram, Signal, TCP keep-alive), each
// preset with its source.
package strategy
