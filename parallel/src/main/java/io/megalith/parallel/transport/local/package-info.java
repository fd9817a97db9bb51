/**
 * An in-JVM {@link io.megalith.parallel.transport.Transport}: N ranks of one JVM exchanging messages
 * through mailboxes, deterministic and fast, with fault injection. What unit tests of collectives use.
 */
package io.megalith.parallel.transport.local;
