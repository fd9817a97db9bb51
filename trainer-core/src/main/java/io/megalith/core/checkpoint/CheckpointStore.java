package io.megalith.core.checkpoint;

import com.fasterxml.jackson.databind.json.JsonMapper;
import io.megalith.core.checkpoint.CheckpointManifest.FileEntry;
import io.megalith.core.tensor.HostTensor;
import java.io.EOFException;
import java.io.File;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.io.OutputStream;
import java.net.URI;
import java.nio.ByteBuffer;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.ChecksumException;
import org.apache.hadoop.fs.ChecksumFileSystem;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileAlreadyExistsException;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.StreamCapabilities;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Checkpoints of one training run, stored through the Hadoop {@link FileSystem} API so local disks
 * and HDFS share one code path. Layout: {@code <runDir>/checkpoints/step-00000042/} holding one
 * {@code <name>.safetensors} per tensor file, opaque blobs, and {@code manifest.json}.
 *
 * <p>Publication protocol (single writer): files go to a {@code .tmp-step-...-<random>} directory,
 * the manifest with every file's size and CRC32C is written last, and one directory rename makes
 * the checkpoint visible. A directory is complete iff its manifest parses, so readers never see a
 * half-written checkpoint; {@link #load} additionally verifies sizes and checksums so bit rot or a
 * truncated file is detected and {@link #loadLatest} falls back to an older checkpoint.
 *
 * <p>Only one process may save to a run directory at a time (it also deletes other writers'
 * temporaries); any number may read. Instances are not thread-safe.
 */
public final class CheckpointStore {
    private static final Logger LOG = LoggerFactory.getLogger(CheckpointStore.class);

    private static final Pattern STEP_DIR = Pattern.compile("step-(\\d{8,18})");
    private static final String TMP_PREFIX = ".tmp-";
    // An older checkpoint of the same step, moved aside while a new one replaces it.
    private static final Pattern REPLACED_DIR = Pattern.compile("\\.replaced-(step-\\d{8,18})-[0-9a-f]+");
    private static final int MAX_MANIFEST_BYTES = 16 << 20;
    private static final int MAX_BLOB_BYTES = Integer.MAX_VALUE - 8;

    private final FileSystem fs;
    private final Path checkpointsDir;
    private final int keepLast;

    /**
     * @param runDir a URI ({@code hdfs://nn:8020/runs/x}, {@code file:///tmp/x}) or a plain local path
     * @param keepLast how many complete checkpoints to keep after each save; {@code <= 0} keeps all
     */
    public CheckpointStore(String runDir, Configuration conf, int keepLast) throws IOException {
        URI uri = new Path(runDir).toUri();
        if (uri.getScheme() == null) {
            // A plain path means the local disk even if fs.defaultFS points at a cluster.
            uri = new File(runDir).getAbsoluteFile().toURI();
        }
        FileSystem fileSystem = FileSystem.get(uri, conf);
        if (fileSystem instanceof ChecksumFileSystem checksummed) {
            // The local FS writes a .crc side file per file; the manifest's CRC32C already covers that.
            fileSystem = checksummed.getRawFileSystem();
        }
        this.fs = fileSystem;
        this.checkpointsDir = fs.makeQualified(new Path(new Path(uri), "checkpoints"));
        this.keepLast = keepLast;
    }

    /** The directory holding all checkpoints of the run. */
    public Path checkpointsDir() {
        return checkpointsDir;
    }

    /**
     * Writes a checkpoint of {@code step}, publishes it atomically, then applies retention. If a
     * checkpoint of this step exists, it is replaced only once the new one is complete.
     *
     * @param tensorFiles each entry becomes {@code <name>.safetensors}
     * @param blobFiles each entry is written as-is under its name
     */
    public void save(long step, Map<String, Map<String, HostTensor>> tensorFiles, Map<String, byte[]> blobFiles)
            throws IOException {
        if (step < 0) {
            throw new IllegalArgumentException("negative step " + step);
        }
        checkNames(tensorFiles, blobFiles);
        Path tmp = new Path(checkpointsDir, TMP_PREFIX + stepDirName(step) + "-" + randomSuffix());
        try {
            if (!fs.mkdirs(tmp)) {
                throw new IOException("cannot create " + tmp);
            }
            List<FileEntry> entries = new ArrayList<>();
            Map<String, String> metadata = new LinkedHashMap<>();
            metadata.put("format", "pt"); // what HF transformers expects of PyTorch weights
            metadata.put("megalith.step", Long.toString(step));
            for (Map.Entry<String, Map<String, HostTensor>> e : tensorFiles.entrySet()) {
                String name = e.getKey() + CheckpointManifest.SAFETENSORS_SUFFIX;
                entries.add(writeFile(tmp, name, CheckpointManifest.KIND_SAFETENSORS,
                        out -> Safetensors.write(out, e.getValue(), metadata)));
            }
            for (Map.Entry<String, byte[]> e : blobFiles.entrySet()) {
                entries.add(writeFile(tmp, e.getKey(), CheckpointManifest.KIND_BLOB, out -> out.write(e.getValue())));
            }
            CheckpointManifest manifest = new CheckpointManifest(
                    CheckpointManifest.FORMAT_VERSION, step, Instant.now().toString(), entries, null, null, null);
            // Last: until the manifest exists nothing treats the directory as a checkpoint.
            writeFile(tmp, CheckpointManifest.FILE_NAME, null, out -> out.write(manifest.toJson()));
            publish(tmp, stepDir(step));
        } catch (IOException | RuntimeException e) {
            deleteQuietly(tmp);
            throw e;
        }
        LOG.info("Saved checkpoint {}", stepDir(step));
        cleanUp(step);
    }

    /** Steps of all complete checkpoints (manifest present and parsable), ascending. */
    public List<Long> completeSteps() throws IOException {
        List<Long> steps = new ArrayList<>();
        for (Map.Entry<Long, Path> e : stepDirs().entrySet()) {
            try {
                readManifest(e.getValue(), e.getKey());
                steps.add(e.getKey());
            } catch (CorruptCheckpointException notComplete) {
                LOG.debug("Not a complete checkpoint: {}", notComplete.getMessage());
            }
        }
        return steps;
    }

    /**
     * Loads the newest checkpoint that passes verification. Each one that fails is logged as a
     * warning naming the bad file, and the next older one is tried.
     *
     * @return empty if there is no valid checkpoint
     * @throws IOException only for failures other than corruption (e.g. the file system is down),
     *     where silently falling back to an older step would lose progress
     */
    public Optional<LoadedCheckpoint> loadLatest() throws IOException {
        for (Map.Entry<Long, Path> e : stepDirs().descendingMap().entrySet()) {
            try {
                return Optional.of(load(e.getKey()));
            } catch (CorruptCheckpointException | FileNotFoundException bad) {
                // FileNotFoundException: the directory vanished since listing (retention by the writer).
                LOG.warn("Skipping checkpoint step {}: {}", e.getKey(), bad.getMessage());
            }
        }
        return Optional.empty();
    }

    /**
     * Loads one checkpoint, verifying every file listed in its manifest (size and CRC32C).
     *
     * @throws FileNotFoundException if there is no directory for {@code step}
     * @throws CorruptCheckpointException naming the file that is missing, has the wrong size or
     *     checksum, or cannot be parsed
     */
    public LoadedCheckpoint load(long step) throws IOException {
        Path dir = stepDir(step);
        if (!fs.exists(dir)) {
            throw new FileNotFoundException("no checkpoint of step " + step + ": " + dir + " does not exist");
        }
        CheckpointManifest manifest = readManifest(dir, step);
        Map<String, Map<String, HostTensor>> tensorFiles = new LinkedHashMap<>();
        Map<String, byte[]> blobFiles = new LinkedHashMap<>();
        if (manifest.sharded()) {
            // whole tensors, grouped by the name of the files their pieces are in up to "-r<rank>"
            Map<String, HostTensor> all = assemble(step, manifest, n -> true);
            for (CheckpointManifest.TensorEntry t : manifest.tensors()) {
                String file = t.pieces().get(0).file();
                String group = SHARD_FILE.matcher(file).replaceFirst("");
                tensorFiles.computeIfAbsent(group, g -> new LinkedHashMap<>()).put(t.name(), all.get(t.name()));
            }
            for (FileEntry f : manifest.files()) {
                if (CheckpointManifest.KIND_BLOB.equals(f.kind())) {
                    blobFiles.put(f.name(), readBlob(step, manifest, f.name()));
                }
            }
            return new LoadedCheckpoint(step, tensorFiles, blobFiles);
        }
        for (FileEntry f : manifest.files()) {
            Path file = new Path(dir, f.name());
            if (CheckpointManifest.KIND_SAFETENSORS.equals(f.kind())) {
                Map<String, HostTensor> tensors = readVerified(file, f, (in, size) -> Safetensors.read(in, size).tensors());
                String name = f.name().substring(0, f.name().length() - CheckpointManifest.SAFETENSORS_SUFFIX.length());
                tensorFiles.put(name, tensors);
            } else {
                blobFiles.put(f.name(), readVerified(file, f, CheckpointStore::readBlob));
            }
        }
        return new LoadedCheckpoint(step, tensorFiles, blobFiles);
    }

    // ---------------------------------------------------------------- sharded checkpoints (format 2)

    private static final String MARKER_PREFIX = "rank-";
    private static final Pattern SHARD_FILE = Pattern.compile("(-r\\d+)?\\.safetensors$");
    private static final String MARKER_SUFFIX = ".json";
    private static final JsonMapper MARKER_JSON =
            JsonMapper.builder().build();

    /**
     * A piece of a global tensor as one rank holds it.
     *
     * @param data the piece (shape: the global shape with dim {@code dim} cut to the ranges)
     */
    public record Piece(String name, long[] globalShape, int dim, long[][] ranges, HostTensor data) {
        public static Piece whole(String name, HostTensor t) {
            return new Piece(name, t.shape(), 0, TensorPieces.whole(t.shape()), t);
        }
    }

    /** What one rank wrote into a staging directory: its files (with CRC32C) and the pieces they hold. */
    public record RankShard(int rank, List<FileEntry> files, List<CheckpointManifest.TensorEntry> tensors) {}

    /** The staging directory of a sharded save; every rank of the save must use the same {@code nonce}. */
    public Path stagingDir(long step, String nonce) {
        if (!nonce.matches("[0-9a-f]{1,32}")) {
            throw new IllegalArgumentException("nonce must be hex: " + nonce);
        }
        return new Path(checkpointsDir, TMP_PREFIX + stepDirName(step) + "-" + nonce);
    }

    /**
     * Writes one rank's shard of a sharded checkpoint into {@code staging}: each entry of {@code tensorFiles}
     * becomes {@code <name>.safetensors} holding its pieces (by global tensor name), each blob a file, then the
     * rank's marker {@code rank-NNNNN.json} (files, sizes, CRC32C, pieces) appears by an atomic rename: the
     * committing rank takes a rank as done when its marker exists.
     */
    public RankShard writeShard(Path staging, int rank, Map<String, List<Piece>> tensorFiles, Map<String, byte[]> blobs)
            throws IOException {
        return writeShard(staging, rank, tensorFiles, blobs, true);
    }

    /**
     * As above; without the marker when {@code marker} is false: the committing rank passes its own shard to
     * {@link #commitSharded} directly, which saves a file (one more sequential HDFS close) per save.
     */
    public RankShard writeShard(Path staging, int rank, Map<String, List<Piece>> tensorFiles, Map<String, byte[]> blobs,
            boolean marker) throws IOException {
        fs.mkdirs(staging); // every rank: idempotent
        List<Callable<FileEntry>> writes = new ArrayList<>();
        List<CheckpointManifest.TensorEntry> tensors = new ArrayList<>();
        Map<String, String> metadata = new LinkedHashMap<>();
        metadata.put("format", "pt");
        metadata.put("megalith.rank", Integer.toString(rank));
        for (Map.Entry<String, List<Piece>> e : tensorFiles.entrySet()) {
            String file = e.getKey() + CheckpointManifest.SAFETENSORS_SUFFIX;
            checkFileName(file);
            Map<String, HostTensor> content = new LinkedHashMap<>();
            for (Piece p : e.getValue()) {
                long[] expected = TensorPieces.pieceShape(p.globalShape(), p.dim(), p.ranges());
                if (!Arrays.equals(expected, p.data().shape())) {
                    throw new IllegalArgumentException("piece of " + p.name() + " has shape "
                            + Arrays.toString(p.data().shape()) + ", its ranges say "
                            + Arrays.toString(expected));
                }
                if (content.put(p.name(), p.data()) != null) {
                    throw new IllegalArgumentException("two pieces of " + p.name() + " in " + file);
                }
                tensors.add(new CheckpointManifest.TensorEntry(p.name(), p.data().dtype().name(), p.globalShape(),
                        List.of(new CheckpointManifest.Piece(file, p.dim(), p.ranges(), PieceReads.crc32c(p.data())))));
            }
            writes.add(() -> writeFile(staging, file, CheckpointManifest.KIND_SAFETENSORS,
                    out -> Safetensors.write(out, content, metadata)));
        }
        for (Map.Entry<String, byte[]> e : blobs.entrySet()) {
            checkFileName(e.getKey());
            writes.add(() -> writeFile(staging, e.getKey(), CheckpointManifest.KIND_BLOB, out -> out.write(e.getValue())));
        }
        List<FileEntry> entries = writeAll(writes);
        RankShard shard = new RankShard(rank, entries, tensors);
        if (!marker) {
            return shard;
        }
        String name = markerName(rank);
        writeFile(staging, name + ".part", null, out -> out.write(MARKER_JSON.writeValueAsBytes(shard)));
        if (!fs.rename(new Path(staging, name + ".part"), new Path(staging, name))) {
            throw new IOException("cannot publish " + new Path(staging, name));
        }
        return shard;
    }

    /**
     * The commit of a sharded checkpoint, by one rank (rank 0) after it wrote its own shard: waits until all
     * {@code layout.world()} ranks' markers exist in {@code staging} (a barrier through the file system, so it
     * can run on a background thread without a collective), merges them into {@code manifest.json} (written
     * last), publishes the directory by one rename and applies retention. If a rank does not finish within
     * {@code timeoutMillis} the staging directory is deleted and nothing becomes visible.
     */
    public void commitSharded(long step, Path staging, CheckpointManifest.Layout layout, String stateFile,
            long timeoutMillis) throws IOException, InterruptedException {
        commitSharded(step, staging, layout, stateFile, timeoutMillis, null);
    }

    /** As above, with the committing rank 0's own shard ({@code own}, written without a marker) if not null. */
    public void commitSharded(long step, Path staging, CheckpointManifest.Layout layout, String stateFile,
            long timeoutMillis, RankShard own) throws IOException, InterruptedException {
        long deadline = System.nanoTime() + timeoutMillis * 1_000_000L;
        List<RankShard> shards = new ArrayList<>();
        if (own != null) {
            shards.add(own);
        }
        try {
            for (int r = 0; r < layout.world(); r++) {
                if (own != null && r == own.rank()) {
                    continue;
                }
                Path marker = new Path(staging, markerName(r));
                long sleep = 2;
                while (!fs.exists(marker)) {
                    if (System.nanoTime() > deadline) {
                        throw new IOException("rank " + r + " did not finish its shard of step " + step + " within "
                                + timeoutMillis + " ms: checkpoint not published");
                    }
                    Thread.sleep(sleep);
                    sleep = Math.min(100, sleep * 2);
                }
                try (FSDataInputStream in = fs.open(marker)) {
                    shards.add(MARKER_JSON.readValue(in.readNBytes(MAX_MANIFEST_BYTES), RankShard.class));
                }
            }
            List<FileEntry> files = new ArrayList<>();
            Map<String, CheckpointManifest.TensorEntry> tensors = new LinkedHashMap<>();
            for (RankShard shard : shards) {
                files.addAll(shard.files());
                for (CheckpointManifest.TensorEntry t : shard.tensors()) {
                    CheckpointManifest.TensorEntry have = tensors.get(t.name());
                    if (have == null) {
                        tensors.put(t.name(), new CheckpointManifest.TensorEntry(t.name(), t.dtype(), t.shape(),
                                new ArrayList<>(t.pieces())));
                        continue;
                    }
                    if (!have.dtype().equals(t.dtype()) || !Arrays.equals(have.shape(), t.shape())) {
                        throw new IOException("ranks disagree on the shape or dtype of " + t.name());
                    }
                    for (CheckpointManifest.Piece p : t.pieces()) {
                        boolean duplicate = have.pieces().stream().anyMatch(
                                q -> q.dim() == p.dim() && Arrays.deepEquals(q.ranges(), p.ranges()));
                        if (!duplicate) { // the same piece from two ranks (a replica): the lower rank's is used
                            have.pieces().add(p);
                        }
                    }
                }
            }
            CheckpointManifest manifest = new CheckpointManifest(CheckpointManifest.SHARDED_FORMAT_VERSION, step,
                    Instant.now().toString(), files, layout, new ArrayList<>(tensors.values()), stateFile);
            byte[] json = manifest.toJson();
            CheckpointManifest.parse(json, step); // the checks a reader makes, before anything is visible
            writeFile(staging, CheckpointManifest.FILE_NAME, null, out -> out.write(json));
            publish(staging, stepDir(step));
        } catch (IOException | RuntimeException | InterruptedException e) {
            deleteQuietly(staging);
            throw e;
        }
        LOG.info("Saved checkpoint {} ({} ranks)", stepDir(step), layout.world());
        cleanUp(step);
    }

    /**
     * Writes a rank's files concurrently (up to {@link #WRITE_THREADS}): each HDFS file pays a pipeline setup, an
     * hsync and a close that waits for the NameNode, and these latencies overlap.
     */
    private static List<FileEntry> writeAll(List<Callable<FileEntry>> writes) throws IOException {
        if (writes.size() <= 1) {
            List<FileEntry> one = new ArrayList<>();
            for (Callable<FileEntry> w : writes) {
                try {
                    one.add(w.call());
                } catch (IOException | RuntimeException e) {
                    throw e;
                } catch (Exception e) {
                    throw new IOException(e);
                }
            }
            return one;
        }
        ExecutorService pool = Executors.newFixedThreadPool(
                Math.min(WRITE_THREADS, writes.size()), r -> {
                    Thread t = new Thread(r, "megalith-ckpt-file");
                    t.setDaemon(true);
                    return t;
                });
        try {
            List<Future<FileEntry>> futures = new ArrayList<>();
            for (Callable<FileEntry> w : writes) {
                futures.add(pool.submit(w));
            }
            List<FileEntry> entries = new ArrayList<>();
            for (Future<FileEntry> f : futures) {
                try {
                    entries.add(f.get());
                } catch (ExecutionException e) {
                    throw e.getCause() instanceof IOException io ? io : new IOException(e.getCause());
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new InterruptedIOException("interrupted writing a checkpoint shard");
                }
            }
            return entries;
        } finally {
            pool.shutdownNow();
        }
    }

    private static final int WRITE_THREADS = 4;

    private static String markerName(int rank) {
        return String.format("%s%05d%s", MARKER_PREFIX, rank, MARKER_SUFFIX);
    }

    private static void checkFileName(String n) {
        if (!CheckpointManifest.FILE_NAME_PATTERN.matcher(n).matches() || n.equals(CheckpointManifest.FILE_NAME)
                || n.startsWith(MARKER_PREFIX)) {
            throw new IllegalArgumentException("invalid or reserved checkpoint file name '" + n + "'");
        }
    }

    /** Steps of directories named like checkpoints, newest first (completeness not checked: see {@link #manifest}). */
    public List<Long> stepsNewestFirst() throws IOException {
        return new ArrayList<>(stepDirs().descendingKeySet());
    }

    /**
     * A directory a writer left behind unpublished: a save that was killed before its rename (or is still being
     * written), or a delete/replace cut short. Resume never reads it; the next save deletes (or restores) it.
     *
     * @param step the step it was for
     * @param what "save", "delete" or "replace"
     * @param files files in it (rank markers and the manifest included)
     */
    public record Leftover(long step, Path dir, String what, int files, long bytes) {}

    private static final Pattern LEFTOVER_SAVE = Pattern.compile("\\.tmp-step-(\\d{8,18})-[0-9a-f]+");
    private static final Pattern LEFTOVER_DELETE = Pattern.compile("\\.tmp-delete-step-(\\d{8,18})-[0-9a-f]+");

    /** Unpublished directories in the checkpoints directory (see {@link Leftover}), by step. */
    public List<Leftover> leftovers() throws IOException {
        List<Leftover> out = new ArrayList<>();
        for (FileStatus st : checkpointEntries()) {
            String name = st.getPath().getName();
            Matcher save = LEFTOVER_SAVE.matcher(name);
            Matcher delete = LEFTOVER_DELETE.matcher(name);
            Matcher replace = REPLACED_DIR.matcher(name);
            String what = save.matches() ? "save" : delete.matches() ? "delete" : replace.matches() ? "replace" : null;
            if (!st.isDirectory() || what == null) {
                continue;
            }
            String digits = save.matches() ? save.group(1) : delete.matches() ? delete.group(1)
                    : replace.group(1).substring("step-".length());
            int files = 0;
            long bytes = 0;
            try {
                for (FileStatus f : fs.listStatus(st.getPath())) {
                    files++;
                    bytes += f.getLen();
                }
            } catch (FileNotFoundException gone) {
                continue; // deleted since listing (the writer finished or cleaned up)
            }
            out.add(new Leftover(Long.parseLong(digits), st.getPath(), what, files, bytes));
        }
        out.sort(Comparator.comparingLong(Leftover::step).thenComparing(l -> l.dir().getName()));
        return out;
    }

    /** The directory of one checkpoint. */
    public Path directory(long step) {
        return stepDir(step);
    }

    /**
     * The parsed manifest of a checkpoint.
     *
     * @throws CorruptCheckpointException if it is missing or invalid (the checkpoint is incomplete)
     */
    public CheckpointManifest manifest(long step) throws IOException {
        Path dir = stepDir(step);
        if (!fs.exists(dir)) {
            throw new FileNotFoundException("no checkpoint of step " + step + ": " + dir + " does not exist");
        }
        return readManifest(dir, step);
    }

    /** One blob of a checkpoint, verified against the manifest. */
    public byte[] readBlob(long step, CheckpointManifest m, String name) throws IOException {
        return readVerified(new Path(stepDir(step), name), m.file(name), CheckpointStore::readBlob);
    }

    /** One safetensors file of a checkpoint, verified against the manifest. */
    public Map<String, HostTensor> readTensorFile(long step, CheckpointManifest m, String name) throws IOException {
        return readVerified(new Path(stepDir(step), name), m.file(name), (in, size) -> Safetensors.read(in, size).tensors());
    }

    /**
     * The whole tensors of a sharded checkpoint whose names pass {@code wanted}, assembled from their pieces.
     * Reads (and verifies) only the files holding pieces of them, each once.
     *
     * @throws CorruptCheckpointException naming the first file that fails verification
     */
    public Map<String, HostTensor> assemble(long step, CheckpointManifest m, Predicate<String> wanted)
            throws IOException {
        return assemble(step, m, wanted, false);
    }

    /**
     * As above; with {@code piecesOnly}, reads from each file only the byte ranges of the wanted pieces, each verified
     * against its own CRC32C in the manifest (checkpoints without per-piece CRCs are still read and verified whole).
     * Then a damaged byte is found only by a reader of the piece holding it: a restore by every rank reads every
     * piece of the model, so some rank finds it and all fall back; a single reader of some tensors does not check
     * the rest of their files (use the three-argument form or {@link #verify} for that).
     */
    public Map<String, HostTensor> assemble(long step, CheckpointManifest m, Predicate<String> wanted,
            boolean piecesOnly) throws IOException {
        Map<String, List<CheckpointManifest.TensorEntry>> byFile = new LinkedHashMap<>();
        Map<String, byte[]> whole = new LinkedHashMap<>();
        for (CheckpointManifest.TensorEntry t : m.tensors()) {
            if (!wanted.test(t.name())) {
                continue;
            }
            HostTensor.DType dtype = HostTensor.DType.valueOf(t.dtype());
            whole.put(t.name(), new byte[Math.toIntExact(HostTensor.numel(t.shape()) * dtype.bytes)]);
            for (CheckpointManifest.Piece p : t.pieces()) {
                byFile.computeIfAbsent(p.file(), f -> new ArrayList<>()).add(t);
            }
        }
        for (Map.Entry<String, List<CheckpointManifest.TensorEntry>> e : byFile.entrySet()) {
            Map<String, HostTensor> content = piecesOnly ? readPieces(step, m, e.getKey(), e.getValue())
                    : readTensorFile(step, m, e.getKey());
            for (CheckpointManifest.TensorEntry t : e.getValue()) {
                for (CheckpointManifest.Piece p : t.pieces()) {
                    if (!p.file().equals(e.getKey())) {
                        continue;
                    }
                    HostTensor piece = content.get(t.name());
                    long[] shape = TensorPieces.pieceShape(t.shape(), p.dim(), p.ranges());
                    Path file = new Path(stepDir(step), e.getKey());
                    if (piece == null || !Arrays.equals(piece.shape(), shape)
                            || !piece.dtype().name().equals(t.dtype())) {
                        throw new CorruptCheckpointException(file.toString(), "does not hold the piece of " + t.name()
                                + " that the manifest lists");
                    }
                    TensorPieces.place(piece, whole.get(t.name()), t.shape(), p.dim(), p.ranges());
                }
            }
        }
        Map<String, HostTensor> out = new LinkedHashMap<>();
        for (CheckpointManifest.TensorEntry t : m.tensors()) {
            byte[] b = whole.get(t.name());
            if (b != null) {
                out.put(t.name(), new HostTensor(HostTensor.DType.valueOf(t.dtype()), t.shape(),
                        ByteBuffer.wrap(b)));
            }
        }
        return out;
    }

    /**
     * The pieces of {@code tensors} in one file: only their byte ranges when the manifest has a CRC32C for each,
     * else (checkpoints written before per-piece CRCs) the whole file, verified whole.
     */
    private Map<String, HostTensor> readPieces(long step, CheckpointManifest m, String file,
            List<CheckpointManifest.TensorEntry> tensors) throws IOException {
        Map<String, CheckpointManifest.Piece> wanted = new LinkedHashMap<>();
        for (CheckpointManifest.TensorEntry t : tensors) {
            for (CheckpointManifest.Piece p : t.pieces()) {
                if (p.file().equals(file)) {
                    if (p.crc32c() == null) {
                        return readTensorFile(step, m, file);
                    }
                    wanted.put(t.name(), p);
                }
            }
        }
        return PieceReads.read(fs, new Path(stepDir(step), file), m.file(file), wanted);
    }

    /**
     * Verifies every file of one checkpoint (size, CRC32C, parse).
     *
     * @return one line per bad file, empty when the checkpoint is intact
     */
    public List<String> verify(long step) throws IOException {
        List<String> problems = new ArrayList<>();
        CheckpointManifest m;
        try {
            m = manifest(step);
        } catch (CorruptCheckpointException e) {
            return List.of(e.getMessage());
        }
        for (FileEntry f : m.files()) {
            try {
                if (CheckpointManifest.KIND_SAFETENSORS.equals(f.kind())) {
                    readTensorFile(step, m, f.name());
                } else {
                    readBlob(step, m, f.name());
                }
            } catch (CorruptCheckpointException e) {
                problems.add(e.getMessage());
            }
        }
        return problems;
    }

    /** Deletes one checkpoint (renamed away first, so a crash never leaves a half-deleted checkpoint visible). */
    public void deleteCheckpoint(long step) throws IOException {
        delete(step);
    }

    public FileSystem fileSystem() {
        return fs;
    }

    // ---------------------------------------------------------------- writing

    private interface Body {
        void writeTo(OutputStream out) throws IOException;
    }

    private FileEntry writeFile(Path dir, String name, String kind, Body body) throws IOException {
        try (FSDataOutputStream raw = fs.create(new Path(dir, name), false)) {
            Crc32cStreams.Out out = new Crc32cStreams.Out(raw);
            body.writeTo(out);
            out.flush();
            if (raw.hasCapability(StreamCapabilities.HSYNC)) {
                // Durable before the rename publishes it; otherwise a crash could expose empty files.
                raw.hsync();
            }
            return new FileEntry(name, kind, out.count, Crc32cStreams.hex(out.crc));
        }
    }

    /**
     * Renames the finished temporary directory to its final name. No file system here can atomically
     * replace a non-empty directory, so an existing checkpoint of the same step is first moved aside
     * and deleted only after the new one is in place.
     */
    private void publish(Path tmp, Path dir) throws IOException {
        Path replaced = null;
        if (fs.exists(dir)) {
            replaced = new Path(checkpointsDir, ".replaced-" + dir.getName() + "-" + randomSuffix());
            rename(dir, replaced);
        }
        try {
            rename(tmp, dir);
        } catch (IOException e) {
            if (replaced != null) {
                try {
                    rename(replaced, dir);
                } catch (IOException undo) {
                    e.addSuppressed(undo);
                }
            }
            throw e;
        }
        if (replaced != null) {
            deleteQuietly(replaced); // if this fails, the next cleanUp deletes it
        }
    }

    /**
     * FileSystem.rename onto an existing directory "succeeds" on both HDFS and the local FS by moving
     * {@code src} inside it (locally even by a non-atomic copy), hence the explicit check; with a
     * single writer nothing can create {@code dst} in between.
     */
    private void rename(Path src, Path dst) throws IOException {
        if (fs.exists(dst)) {
            throw new FileAlreadyExistsException("cannot rename " + src + ": " + dst + " exists");
        }
        if (!fs.rename(src, dst)) {
            throw new IOException("rename " + src + " -> " + dst + " failed");
        }
    }

    /**
     * After a save: removes leftovers of crashed writers and applies retention. Best effort: the new
     * checkpoint is already safe, so a failure here is logged rather than thrown.
     */
    private void cleanUp(long justWritten) {
        try {
            for (FileStatus st : fs.listStatus(checkpointsDir)) {
                String name = st.getPath().getName();
                Matcher replaced = REPLACED_DIR.matcher(name);
                if (replaced.matches()) {
                    // A writer died between the two renames of a replace: restore the old checkpoint.
                    Path original = new Path(checkpointsDir, replaced.group(1));
                    if (fs.exists(original)) {
                        fs.delete(st.getPath(), true);
                    } else {
                        rename(st.getPath(), original);
                    }
                } else if (name.startsWith(TMP_PREFIX)) {
                    // Single writer: any temporary directory other than ours (already renamed) is stale.
                    LOG.info("Deleting stale {}", st.getPath());
                    fs.delete(st.getPath(), true);
                }
            }
            if (keepLast <= 0) {
                return;
            }
            List<Long> steps = completeSteps();
            for (int i = 0; i < steps.size() - keepLast; i++) {
                long step = steps.get(i);
                if (step < justWritten) { // a newer checkpoint (from before a rollback) is never ours to delete
                    delete(step);
                }
            }
        } catch (IOException e) {
            LOG.warn("Checkpoint cleanup in {} failed: {}", checkpointsDir, e.toString());
        }
    }

    /** Renames first so a crash mid-delete leaves a stale temporary, never a half-deleted checkpoint. */
    private void delete(long step) throws IOException {
        Path doomed = new Path(checkpointsDir, TMP_PREFIX + "delete-" + stepDirName(step) + "-" + randomSuffix());
        rename(stepDir(step), doomed);
        fs.delete(doomed, true);
        LOG.info("Deleted checkpoint {} (keepLast={})", stepDir(step), keepLast);
    }

    private void deleteQuietly(Path p) {
        try {
            fs.delete(p, true);
        } catch (IOException e) {
            LOG.warn("Could not delete {}: {}", p, e.toString());
        }
    }

    private static void checkNames(Map<String, Map<String, HostTensor>> tensorFiles, Map<String, byte[]> blobFiles) {
        Set<String> names = new HashSet<>();
        List<String> all = new ArrayList<>();
        tensorFiles.keySet().forEach(n -> all.add(n + CheckpointManifest.SAFETENSORS_SUFFIX));
        all.addAll(blobFiles.keySet());
        for (String n : all) {
            if (!CheckpointManifest.FILE_NAME_PATTERN.matcher(n).matches()) {
                throw new IllegalArgumentException("invalid checkpoint file name '" + n + "'");
            }
            if (n.equals(CheckpointManifest.FILE_NAME) || !names.add(n)) {
                throw new IllegalArgumentException("checkpoint file name '" + n + "' is reserved or used twice");
            }
        }
    }

    // ---------------------------------------------------------------- reading

    private interface Parser<T> {
        T parse(Crc32cStreams.In in, long size) throws IOException;
    }

    /**
     * Parses a file while checksumming it, so each byte is read once. Format errors are reported
     * after the checksum comparison: a CRC mismatch is the more precise diagnosis.
     */
    private <T> T readVerified(Path file, FileEntry expected, Parser<T> parser) throws IOException {
        FileStatus st;
        try {
            st = fs.getFileStatus(file);
        } catch (FileNotFoundException e) {
            throw new CorruptCheckpointException(file.toString(), "missing (listed in the manifest)");
        }
        if (st.getLen() != expected.size()) {
            throw new CorruptCheckpointException(file.toString(),
                    "size " + st.getLen() + " bytes, manifest says " + expected.size());
        }
        try (FSDataInputStream raw = fs.open(file)) {
            Crc32cStreams.In in = new Crc32cStreams.In(raw);
            T value = null;
            IOException parseError = null;
            try {
                value = parser.parse(in, expected.size());
            } catch (IOException e) {
                parseError = e;
            }
            in.drain();
            String crc = Crc32cStreams.hex(in.crc);
            if (in.count != expected.size()) {
                throw new CorruptCheckpointException(file.toString(),
                        "read " + in.count + " bytes, manifest says " + expected.size());
            }
            if (!crc.equals(expected.crc32c())) {
                throw new CorruptCheckpointException(file.toString(),
                        "CRC32C mismatch: file has " + crc + ", manifest says " + expected.crc32c());
            }
            if (parseError != null) {
                throw new CorruptCheckpointException(file.toString(), "unreadable: " + parseError.getMessage(), parseError);
            }
            return value;
        } catch (ChecksumException | EOFException e) {
            // The file system's own integrity checks failed (e.g. every HDFS replica is corrupt).
            throw new CorruptCheckpointException(file.toString(), e.toString(), e);
        }
    }

    private static byte[] readBlob(Crc32cStreams.In in, long size) throws IOException {
        if (size > MAX_BLOB_BYTES) {
            throw new IOException(size + " bytes do not fit in a byte array");
        }
        byte[] bytes = in.readNBytes((int) size);
        if (bytes.length != size) {
            throw new EOFException("expected " + size + " bytes, got " + bytes.length);
        }
        return bytes;
    }

    private CheckpointManifest readManifest(Path dir, long step) throws IOException {
        Path file = new Path(dir, CheckpointManifest.FILE_NAME);
        byte[] json;
        try (FSDataInputStream in = fs.open(file)) {
            json = in.readNBytes(MAX_MANIFEST_BYTES + 1);
        } catch (FileNotFoundException e) {
            throw new CorruptCheckpointException(file.toString(), "missing");
        }
        if (json.length > MAX_MANIFEST_BYTES) {
            throw new CorruptCheckpointException(file.toString(), "larger than " + MAX_MANIFEST_BYTES + " bytes");
        }
        try {
            return CheckpointManifest.parse(json, step);
        } catch (IOException e) {
            throw new CorruptCheckpointException(file.toString(), e.getMessage(), e);
        }
    }

    /** What the checkpoints directory holds; nothing if it does not exist yet. */
    private FileStatus[] checkpointEntries() throws IOException {
        try {
            return fs.listStatus(checkpointsDir);
        } catch (FileNotFoundException e) {
            return new FileStatus[0];
        }
    }

    /** Directories named like a checkpoint, by step; completeness is not checked. */
    private NavigableMap<Long, Path> stepDirs() throws IOException {
        NavigableMap<Long, Path> dirs = new TreeMap<>();
        for (FileStatus st : checkpointEntries()) {
            Matcher m = STEP_DIR.matcher(st.getPath().getName());
            // Only canonical names, so stepDir(step) finds the same directory again.
            if (st.isDirectory() && m.matches() && st.getPath().getName().equals(stepDirName(Long.parseLong(m.group(1))))) {
                dirs.put(Long.parseLong(m.group(1)), st.getPath());
            }
        }
        return dirs;
    }

    private Path stepDir(long step) {
        return new Path(checkpointsDir, stepDirName(step));
    }

    static String stepDirName(long step) {
        return String.format("step-%08d", step);
    }

    private static String randomSuffix() {
        return String.format("%016x", ThreadLocalRandom.current().nextLong());
    }
}
