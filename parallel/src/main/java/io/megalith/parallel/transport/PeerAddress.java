package io.megalith.parallel.transport;

import java.io.Serializable;

/** Where rank {@code rank} of a job listens for its peers. */
public record PeerAddress(int rank, String host, int port) implements Serializable {
    private static final long serialVersionUID = 1L;
}
