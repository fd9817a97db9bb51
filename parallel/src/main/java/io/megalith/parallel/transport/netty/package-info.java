/**
 * The TCP transport between ranks: {@link io.megalith.parallel.transport.netty.NettyTransport} (a full
 * mesh of Netty connections, authenticated with a per-job secret) and its
 * {@link io.megalith.parallel.transport.netty.TransportConfig}, whose
 * {@link io.megalith.parallel.transport.netty.HandshakeLimits} bound the connections that have not
 * authenticated yet.
 */
package io.megalith.parallel.transport.netty;
