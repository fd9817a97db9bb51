package io.megalith.parallel.transport.netty;

import io.megalith.parallel.transport.PeerAddress;
import io.megalith.parallel.transport.Rendezvous;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/** Rendezvous through a shared directory, for ranks in separate processes: one file per rank, written atomically. */
final class FileRendezvous implements Rendezvous {
    private final Path dir;
    private final int worldSize;
    private final Duration timeout;

    FileRendezvous(Path dir, int worldSize, Duration timeout) {
        this.dir = dir;
        this.worldSize = worldSize;
        this.timeout = timeout;
    }

    @Override
    public List<PeerAddress> exchange(PeerAddress mine) {
        try {
            Path tmp = dir.resolve("rank-" + mine.rank() + ".tmp");
            Files.writeString(tmp, mine.host() + " " + mine.port());
            Files.move(tmp, file(mine.rank()), StandardCopyOption.ATOMIC_MOVE); // readers never see half a file
            long end = System.nanoTime() + timeout.toNanos();
            List<PeerAddress> all = new ArrayList<>();
            for (int r = 0; r < worldSize; r++) {
                while (!Files.exists(file(r))) {
                    if (System.nanoTime() > end) throw new IllegalStateException("rank " + r + " did not publish in " + dir);
                    Thread.sleep(20);
                }
                String[] hostPort = Files.readString(file(r)).trim().split(" ");
                all.add(new PeerAddress(r, hostPort[0], Integer.parseInt(hostPort[1])));
            }
            return all;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    private Path file(int rank) {
        return dir.resolve("rank-" + rank + ".addr");
    }
}
