package io.megalith.core.checkpoint;

import io.megalith.comm.Communicator;
import io.megalith.comm.ElementType;
import io.megalith.comm.RankGroups;
import io.megalith.comm.ReduceOp;
import io.megalith.core.model.Gpt;
import io.megalith.core.nn.ModelParameters;
import io.megalith.core.nn.Parameter;
import io.megalith.core.tensor.HostCopies;
import io.megalith.core.tensor.HostTensor;
import io.megalith.core.zero.DataParallelOptimizer;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Predicate;
import org.apache.hadoop.fs.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Sharded, asynchronous checkpoints of one rank of a (dp x tp x pp, ZeRO) job, and their resharding load.
 *
 * <p><b>Save.</b> Every rank copies the tensors it writes into native memory on the training thread (ZeRO pieces
 * are gathered over dp one group at a time, over edp for expert parameters: a collective; no rank holds the whole
 * model or optimizer state for it, and nothing lands on the Java heap), then a background thread writes them as
 * {@code model-rNNNNN} and {@code optimizer-rNNNNN.safetensors} into the step's shared staging directory, with its
 * marker last. Who writes what: a tensor-parallel slice is written by its tp rank (a piece: ranges along one dim);
 * a tensor replicated over tp by tp rank 0; the token embedding (on the first and last stage) by the first stage;
 * and among the dp replicas the tensors are dealt out by size, so every rank writes about 1/dp of its stage's
 * bytes. With expert parallelism ({@code parallel.ep} > 1) an expert's tensors are not dp replicas: the ranks of
 * one expert-data-parallel group hold them (the ep rank's experts, named by their global index) and gather their
 * ZeRO pieces, so they are dealt out among that group only; the load then reads, by global name, the experts each
 * rank holds in its own layout (any ep). Rank 0 writes the Kryo training state and the tokenizer, waits for every
 * rank's marker, writes the manifest and renames the directory ({@link CheckpointStore#commitSharded}). The next
 * save waits for the previous one, and no rank starts a save before rank 0 committed the previous one (the staging
 * name is broadcast from rank 0 after its commit).
 *
 * <p><b>Load.</b> Each rank assembles, from the pieces in the manifest, the whole tensors of its own
 * parameters in its new layout (reading and verifying only the files holding them) and hands them to the
 * trainer's full-tensor load, which slices them for tp, pp and ZeRO. The ranks agree on the step: a
 * checkpoint that fails verification on any rank is skipped by all, with a warning naming the file.
 */
public final class ShardedCheckpointer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ShardedCheckpointer.class);
    public static final String MODEL = "model";
    public static final String OPTIMIZER = "optimizer";
    public static final String TOKENIZER_FILE = "tokenizer.json";
    public static final String LEGACY_STATE_FILE = "state.json";

    private final CheckpointStore store;
    private final RankGroups groups;
    private final Source trainer;
    private final Parameter tied;
    private final CheckpointManifest.Layout layout;
    private final int rank;
    private final boolean async;
    private final long commitTimeoutMillis;
    private final ExecutorService writer;
    private Future<?> pending;
    private Timing pendingTiming;
    private volatile Timing last;

    /**
     * What a save cost. {@code blockingMs}: on the training thread (gathers and the copy to host memory);
     * {@code writeMs}: the background write and commit; {@code waitedMs}: how long the next save (or the end of
     * the run) waited for it.
     */
    public record Timing(long step, double blockingMs, double writeMs, double waitedMs, long bytes) {
        /** Share of the save's time the training thread did not spend on it. */
        public double hiddenFraction() {
            double total = blockingMs + writeMs;
            return total <= 0 ? 0 : Math.max(0, writeMs - waitedMs) / total;
        }
    }

    /** A checkpoint read back: its step, training state and tokenizer (bytes). */
    public record Restored(long step, RunState state, byte[] tokenizer) {}

    /**
     * What a checkpoint saves and loads: a trainer's parameters and AdamW state ({@code train/Trainer}, whichever
     * model family it trains).
     */
    public interface Source {
        /** This rank's parameters (its tp slices, this stage's tensors; ZeRO-3: partitioned over dp). */
        ModelParameters parameters();

        /**
         * Copies the AdamW moments ({@code exp_avg.<param>}, {@code exp_avg_sq.<param>}) of the trainable parameters
         * {@code which} selects, as this rank's layout holds them (its tp slices, this stage's tensors), whole over
         * the data-parallel group: a collective over dp (experts: edp), each rank with its own selection.
         */
        void copyOptimizerState(Predicate<Parameter> which, HostCopies out);

        /** Sets every parameter from the one-rank model's tensors (this rank takes its slices). */
        void loadFullParameters(Map<String, HostTensor> full);

        /** Restores the AdamW state from full (one-rank) tensors and the optimizer's step count. */
        void loadOptimizerState(Map<String, HostTensor> tensors, long stepCount);

        /**
         * The prefixes of the per-parameter state {@link #copyOptimizerState} copies ({@code <prefix><param>}): AdamW's
         * moments, and what a run keeps beside them (the DiT's EMA of the weights, {@code ema.}). Each is written and
         * restored as the moments are.
         */
        default List<String> statePrefixes() {
            return List.of("exp_avg.", "exp_avg_sq.");
        }
    }

    /** A GPT run's checkpointer (the last stage's copy of the tied token embedding is written by the first stage). */
    public ShardedCheckpointer(CheckpointStore store, RankGroups groups, Source trainer, Gpt model, int ep,
            int zeroStage, boolean async, long commitTimeoutMillis) {
        this(store, groups, trainer, model.tokenEmbedding(), ep, zeroStage, async, commitTimeoutMillis);
    }

    /**
     * @param tied a parameter that every pipeline stage but the first skips (the GPT's tied token embedding), or
     *     null
     */
    public ShardedCheckpointer(CheckpointStore store, RankGroups groups, Source trainer, Parameter tied, int ep,
            int zeroStage, boolean async, long commitTimeoutMillis) {
        this.store = store;
        this.groups = groups;
        this.trainer = trainer;
        this.tied = tied;
        Communicator tp = groups.tensorParallel();
        Communicator dp = groups.dataParallel();
        Communicator pp = groups.pipeline();
        this.rank = tp.rank() + tp.size() * (dp.rank() + dp.size() * pp.rank());
        this.layout = new CheckpointManifest.Layout(tp.size() * dp.size() * pp.size(), dp.size(), tp.size(), pp.size(),
                ep, zeroStage);
        this.async = async;
        this.commitTimeoutMillis = commitTimeoutMillis;
        this.writer = async ? Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "megalith-ckpt-writer-" + rank);
            t.setDaemon(true);
            return t;
        }) : null;
    }

    /** This rank's number in the world (tp fastest, then dp, then pp). */
    public int worldRank() {
        return rank;
    }

    public CheckpointManifest.Layout layout() {
        return layout;
    }

    // ------------------------------------------------------------------------------------------------ save

    /**
     * Saves {@code step}: a collective (every rank calls it). Returns once the snapshot is taken; the write
     * continues in the background (or completes here when not asynchronous).
     *
     * @param rank0Blobs files only world rank 0 writes (training state, tokenizer); ignored on other ranks
     */
    public void save(long step, Map<String, byte[]> rank0Blobs) throws IOException {
        awaitPending();
        String nonce = agreeOnNonce();
        long t0 = System.nanoTime();
        HostCopies copies = new HostCopies();
        Map<String, List<CheckpointStore.Piece>> files;
        try {
            files = snapshot(copies);
        } catch (RuntimeException e) {
            copies.close();
            throw e;
        }
        long bytes = copies.bytes();
        Map<String, byte[]> blobs = rank == 0 ? rank0Blobs : Map.of();
        for (byte[] b : blobs.values()) {
            bytes += b.length;
        }
        double blockingMs = (System.nanoTime() - t0) / 1e6;
        Path staging = store.stagingDir(step, nonce);
        long total = bytes;
        Timing[] timing = new Timing[1];
        Callable<Void> write = () -> {
            long w0 = System.nanoTime();
            try {
                CheckpointStore.RankShard own = store.writeShard(staging, rank, files, blobs, rank != 0);
                copies.close(); // written: the copies go back to the system before the commit's wait
                if (rank == 0) { // rank 0 needs no marker of its own
                    store.commitSharded(step, staging, layout, RunStateCodec.FILE, commitTimeoutMillis, own);
                }
            } finally {
                copies.close();
            }
            timing[0] = new Timing(step, blockingMs, (System.nanoTime() - w0) / 1e6, 0, total);
            return null;
        };
        if (!async) {
            try {
                write.call();
            } catch (IOException | RuntimeException e) {
                throw e;
            } catch (Exception e) {
                throw new IOException(e);
            }
            Timing t = timing[0]; // the training thread waited for the whole write: nothing hidden
            last = new Timing(t.step(), t.blockingMs(), t.writeMs(), t.writeMs(), t.bytes());
            log(last);
            return;
        }
        pendingTiming = new Timing(step, blockingMs, 0, 0, total);
        pending = writer.submit(() -> {
            write.call();
            pendingTiming = timing[0];
            last = timing[0]; // visible to metrics as soon as it is written; awaitPending adds the wait
            return null;
        });
    }

    /** Waits for the previous save's background write (and, on rank 0, its commit); rethrows its failure. */
    public void awaitPending() throws IOException {
        if (pending == null) {
            return;
        }
        long w0 = System.nanoTime();
        try {
            pending.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted waiting for checkpoint of step " + pendingTiming.step(), e);
        } catch (ExecutionException e) {
            Throwable c = e.getCause();
            throw c instanceof IOException io ? io : new IOException("checkpoint of step " + pendingTiming.step()
                    + " failed: " + c, c);
        } finally {
            pending = null;
        }
        Timing t = pendingTiming;
        last = new Timing(t.step(), t.blockingMs(), t.writeMs(), (System.nanoTime() - w0) / 1e6, t.bytes());
        log(last);
    }

    /** The last completed save's timing (its wait filled in once the next save or the end waited), or null. */
    public Timing lastTiming() {
        return last;
    }

    private void log(Timing t) {
        LOG.info("Checkpoint step {} (rank {}): {} MiB, {} ms on the training thread, {} ms written {}, waited {} ms:"
                + " {}% of the save hidden", t.step(), rank, String.format("%.1f", t.bytes() / 1048576.0),
                String.format("%.1f", t.blockingMs()), String.format("%.1f", t.writeMs()),
                async ? "in the background" : "synchronously", String.format("%.1f", t.waitedMs()),
                String.format("%.1f", 100 * t.hiddenFraction()));
    }

    /** Rank 0's random staging name on every rank: broadcast over tp, then dp, then pp reaches the world. */
    private String agreeOnNonce() {
        ByteBuffer b = ByteBuffer.allocateDirect(8).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(0, ThreadLocalRandom.current().nextLong());
        for (Communicator c : List.of(groups.tensorParallel(), groups.dataParallel(), groups.pipeline())) {
            if (c.size() > 1) {
                c.broadcast(b, 0);
            }
        }
        return String.format("%016x", b.getLong(0));
    }

    /**
     * The pieces this rank writes, by file: copies (into {@code copies}, native memory) of only the tensors this rank
     * writes, so that the step may go on. ZeRO pieces are gathered one group at a time: no rank ever holds the whole
     * model or optimizer state for a save.
     */
    private Map<String, List<CheckpointStore.Piece>> snapshot(HostCopies copies) {
        Communicator tp = groups.tensorParallel();
        Communicator dp = groups.dataParallel();
        boolean firstStage = groups.pipeline().rank() == 0;
        List<Parameter> mine = new ArrayList<>();
        for (Parameter p : trainer.parameters().parameters()) {
            if (tied != null && p == tied && !firstStage) {
                continue; // the last stage's copy of the token embedding: the first stage writes it
            }
            if (p.sharding().kind() != Parameter.Sharding.Kind.SLICE && tp.rank() != 0) {
                continue; // replicated over tp: tp rank 0 writes it
            }
            mine.add(p);
        }
        // Deal the tensors out among the ranks holding the same copy, by size (each of them computes the same
        // assignment): the dp replicas for every tensor, except that with expert parallelism an expert's
        // tensors are held (and their ZeRO pieces gathered) only by the expert-data-parallel group of the ep
        // rank holding that expert: they are dealt out among that group, each under its global name.
        Communicator edp = groups.expertDataParallel();
        boolean expertParallel = groups.expertParallel().size() > 1;
        long[] load = new long[dp.size()];
        long[] expertLoad = new long[expertParallel ? edp.size() : 0];
        List<Parameter> written = new ArrayList<>();
        for (Parameter p : mine) {
            boolean expert = expertParallel && DataParallelOptimizer.isExpert(p);
            long[] l = expert ? expertLoad : load;
            int owner = 0;
            for (int r = 1; r < l.length; r++) {
                if (l[r] < l[owner]) {
                    owner = r;
                }
            }
            l[owner] += p.numel();
            if (owner == (expert ? edp.rank() : dp.rank())) {
                written.add(p);
            }
        }
        Set<Parameter> selected = Collections.newSetFromMap(new IdentityHashMap<>());
        selected.addAll(written);
        trainer.parameters().copyValues(selected::contains, copies); // ZeRO-3: gathered over dp (experts: edp)
        trainer.copyOptimizerState(selected::contains, copies); // ZeRO-1+: over dp (experts: edp)
        List<CheckpointStore.Piece> weights = new ArrayList<>();
        List<CheckpointStore.Piece> optimizer = new ArrayList<>();
        for (Parameter p : written) {
            weights.add(piece(p, p.name(), copies.get(p.name())));
            for (String prefix : trainer.statePrefixes()) {
                HostTensor m = copies.get(prefix + p.name());
                if (m != null) {
                    optimizer.add(piece(p, prefix + p.name(), m));
                }
            }
        }
        Map<String, List<CheckpointStore.Piece>> files = new LinkedHashMap<>();
        if (!weights.isEmpty()) {
            files.put(String.format("%s-r%05d", MODEL, rank), weights);
        }
        if (!optimizer.isEmpty()) {
            files.put(String.format("%s-r%05d", OPTIMIZER, rank), optimizer);
        }
        return files;
    }

    private static CheckpointStore.Piece piece(Parameter p, String name, HostTensor local) {
        if (local == null) {
            throw new IllegalStateException("no value of " + name + " to checkpoint");
        }
        Parameter.Sharding s = p.sharding();
        if (s.kind() == Parameter.Sharding.Kind.SLICE) {
            return new CheckpointStore.Piece(name, s.fullShape(), s.dim(), s.ranges(), local);
        }
        return CheckpointStore.Piece.whole(name, local);
    }

    // ------------------------------------------------------------------------------------------------ load

    /**
     * The newest checkpoint whose manifest, training state and tokenizer verify (not its tensors: see
     * {@link #restore}), read without a trainer: what a run needs to build its data and model.
     */
    public static Optional<Restored> peekLatest(CheckpointStore store) throws IOException {
        for (long step : store.stepsNewestFirst()) {
            try {
                return Optional.of(header(store, step));
            } catch (CorruptCheckpointException | FileNotFoundException bad) {
                LOG.warn("Skipping checkpoint step {}: {}", step, bad.getMessage());
            }
        }
        return Optional.empty();
    }

    private static Restored header(CheckpointStore store, long step) throws IOException {
        CheckpointManifest m = store.manifest(step);
        byte[] tokenizer = store.readBlob(step, m, TOKENIZER_FILE);
        RunState state;
        try {
            state = m.sharded() ? RunStateCodec.decode(store.readBlob(step, m, m.stateFile()))
                    : RunState.fromJson(store.readBlob(step, m, LEGACY_STATE_FILE));
        } catch (CorruptCheckpointException e) {
            throw e;
        } catch (IOException e) {
            throw new CorruptCheckpointException(store.directory(step) + "/"
                    + (m.sharded() ? m.stateFile() : LEGACY_STATE_FILE), e.getMessage(), e);
        }
        return new Restored(step, state, tokenizer);
    }

    /**
     * Loads the newest checkpoint at or before {@code atMost} that every rank can read and verify into the
     * trainer (weights and optimizer state, whatever layout saved it): a collective. A checkpoint that fails
     * on any rank is skipped by all, the failing rank logging a warning that names the bad file.
     *
     * @return empty if no checkpoint is usable
     */
    public Optional<Restored> restore(long atMost) throws IOException {
        Set<String> wanted = new HashSet<>();
        for (Parameter p : trainer.parameters().parameters()) {
            wanted.add(p.name());
            for (String prefix : trainer.statePrefixes()) {
                wanted.add(prefix + p.name());
            }
        }
        Set<String> names = new HashSet<>();
        trainer.parameters().parameters().forEach(p -> names.add(p.name()));
        for (long step : store.stepsNewestFirst()) {
            if (step > atMost) {
                continue;
            }
            Restored header = null;
            Map<String, HostTensor> weights = null;
            Map<String, HostTensor> moments = null;
            String problem = null;
            try {
                header = header(store, step);
                CheckpointManifest m = store.manifest(step);
                Map<String, HostTensor> all;
                if (m.sharded()) {
                    // only this rank's pieces, by ranged reads: every rank reading whole files does not scale
                    all = store.assemble(step, m, wanted::contains, true);
                } else {
                    LoadedCheckpoint legacy = store.load(step);
                    all = new LinkedHashMap<>(legacy.tensorFiles().getOrDefault(MODEL, Map.of()));
                    all.putAll(legacy.tensorFiles().getOrDefault(OPTIMIZER, Map.of()));
                }
                weights = new LinkedHashMap<>();
                moments = new LinkedHashMap<>();
                for (Map.Entry<String, HostTensor> e : all.entrySet()) {
                    (names.contains(e.getKey()) ? weights : moments).put(e.getKey(), e.getValue());
                }
                for (Parameter p : trainer.parameters().parameters()) {
                    if (!weights.containsKey(p.name())) {
                        throw new CorruptCheckpointException(store.directory(step).toString(), "holds no tensor "
                                + p.name());
                    }
                }
            } catch (CorruptCheckpointException | FileNotFoundException bad) {
                problem = bad.getMessage();
                LOG.warn("Skipping checkpoint step {}: {}", step, problem);
            }
            if (!everyRankOk(problem == null)) {
                if (problem == null) {
                    LOG.warn("Skipping checkpoint step {}: another rank could not verify its part", step);
                }
                continue;
            }
            trainer.loadFullParameters(weights);
            trainer.loadOptimizerState(moments, header.state().optimizerStep());
            LOG.info("Restored checkpoint step {} (saved at {}) on rank {} of layout {}", step, describe(step), rank,
                    layout);
            return Optional.of(header);
        }
        return Optional.empty();
    }

    private String describe(long step) {
        try {
            CheckpointManifest.Layout l = store.manifest(step).layout();
            return l == null ? "one rank (format 1)" : l.toString();
        } catch (IOException e) {
            return "?";
        }
    }

    /** Whether every rank of the world says ok: MAX of "bad" over tp, dp and pp in turn. */
    private boolean everyRankOk(boolean ok) {
        ByteBuffer b = ByteBuffer.allocateDirect(8).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(0, ok ? 0 : 1);
        for (Communicator c : List.of(groups.tensorParallel(), groups.dataParallel(), groups.pipeline())) {
            if (c.size() > 1) {
                c.allReduce(b, ElementType.I64, ReduceOp.MAX);
            }
        }
        return b.getLong(0) == 0;
    }

    /** How long {@link #close} lets a save in flight finish before abandoning it. */
    static final long CLOSE_GRACE_MILLIS = 60_000;

    /**
     * Stops the writer. A save still in flight gets {@link #CLOSE_GRACE_MILLIS} to finish (its snapshot is valid
     * even if the run failed after it: a restarted job resumes from it), then is abandoned (its thread
     * interrupted; the staging directory stays invisible and the next successful save deletes it), so a rank
     * whose peers died does not wait the whole commit timeout. A run that ends normally calls
     * {@link #awaitPending} first.
     */
    @Override
    public void close() {
        if (pending != null && !pending.isDone()) {
            boolean interrupted = Thread.interrupted(); // e.g. Spark killing the task: still let the save finish
            try {
                pending.get(CLOSE_GRACE_MILLIS, TimeUnit.MILLISECONDS);
            } catch (TimeoutException e) {
                LOG.warn("Abandoning the checkpoint of step {} still being written (rank {})", pendingTiming.step(),
                        rank);
                pending.cancel(true);
            } catch (ExecutionException e) {
                LOG.warn("The checkpoint of step {} failed: {}", pendingTiming.step(), e.getCause().toString());
            } catch (InterruptedException e) {
                interrupted = true;
                pending.cancel(true);
            } finally {
                if (interrupted) {
                    Thread.currentThread().interrupt();
                }
            }
        }
        pending = null;
        if (writer != null) {
            writer.shutdownNow();
        }
    }
}
