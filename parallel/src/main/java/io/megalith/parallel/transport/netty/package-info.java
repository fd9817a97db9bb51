/**
 * The TCP transport between ranks: {@link io.megalith.parallel.transport.netty.NettyTransport} (a full
 * mesh of Netty connections, authenticated with a per-job secret) and its
 * {@link io.megalith.parallel.transport.netty.TransportConfig}.
 */
package io.megalith.parallel.transport.netty;
