package io.megalith.core.zero;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.ndarray.types.SparseFormat;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.engine.PtNDManager;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.comm.Communicator;
import io.megalith.comm.DirectBuffers;
import io.megalith.comm.ElementType;
import io.megalith.comm.Handle;
import io.megalith.core.nn.ModelParameters;
import io.megalith.core.nn.Parameter;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.tensor.HostCopies;
import io.megalith.core.tensor.HostTensor;
import io.megalith.core.tensor.Ops;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;

/**
 * Parameters partitioned over a data-parallel group (ZeRO-2/3): the flat parameter space is cut into
 * groups (gradient buckets, or one layer each), and every rank persistently owns only its piece
 * [partStart(len, r), partStart(len, r+1)) of each group. A group is <em>materialised</em> by
 * all-gathering the pieces into a full tensor whose views become the parameters' storage, and
 * <em>released</em> by closing them (ZeRO-3 does that around every use). ZeRO-2 makes every group
 * {@linkplain #keepResident() resident}: the owned pieces then live inside the full tensors (no second copy), and
 * the all-gather after an update runs in place. Gradients are read from the current views and the views can be
 * renewed, which frees libtorch's gradient tensors (DJL cannot reset a parameter's .grad otherwise).
 *
 * <p>Memory is freed when its use ends: a full tensor when its group is released, the shard when the groups become
 * resident; nothing here allocates per step except the full tensors of ZeRO-3 (closed by {@link #release}).
 *
 * <p>Frozen parameters ({@link Parameter#freeze()}) are not partitioned: they live replicated in a
 * {@link ParameterStore} of their own (always bound, no gradient), also under ZeRO-3. They have no gradient and no
 * optimizer state to shard, and gathering them around every use would cost communication for nothing but their
 * memory, which is the price of the simpler design; the groups cover the trainable parameters only.
 */
public final class PartitionedParameters implements ModelParameters {
    /** Flat elements [from, to) and the parameters laid out in them. */
    public record Group(int index, long from, long to, List<Parameter> params) {
        public long size() {
            return to - from;
        }
    }

    private final Communicator dp;
    private final Communicator edp; // partitions expert groups (expert parallelism); dp otherwise
    private final boolean[] expertGroup;

    /** The group that partitions (reduce-scatters, all-gathers) parameter group g. */
    public Communicator communicator(int g) {
        return expertGroup[g] ? edp : dp;
    }
    private final NDManager manager;
    private final List<Parameter> layout;
    private final List<Group> groups;
    private final long numel; // trainable elements: the partitioned flat space
    private final ParameterStore frozen; // replicated frozen parameters, or null
    private final long[] pieceFrom;
    private final long[] pieceTo;
    private final int[] shardOffset;
    private ByteBuffer shard; // this rank's pieces of every group, concatenated; null once resident
    private boolean resident; // ZeRO-2: every group materialised for good, the pieces inside the full tensors
    private final int shardSize;
    private final PtNDArray[] full;
    private final PtNDArray[] arriving; // ZeRO-3 prefetch: full tensors an all-gather is still writing
    private final Handle[] gathers; // ... and those all-gathers
    private final Map<Parameter, PtNDArray> gradViews = new IdentityHashMap<>();

    /**
     * Places {@code layout}'s trainable parameters contiguously from offset 0, cuts them at {@code groupEnds}
     * (exclusive end offsets, ascending, the last = their total; none if nothing trains) and initialises this rank's
     * pieces from {@code seed} (each element is a function of (seed, parameter name, index), so no rank ever needs
     * the full initial tensors). Frozen parameters of {@code layout} are stored whole, replicated.
     */
    public PartitionedParameters(List<Parameter> layout, long[] groupEnds, Communicator dp, NDManager parent, long seed) {
        this(layout, groupEnds, dp, null, null, parent, seed);
    }

    /**
     * With expert parallelism: groups whose parameters are all {@code expert} (each group is all or none) are
     * partitioned over {@code expertDataParallel}, the ranks holding the same experts; the others over dp.
     */
    public PartitionedParameters(List<Parameter> layout, long[] groupEnds, Communicator dp, Communicator expertDataParallel,
            Predicate<Parameter> expert, NDManager parent, long seed) {
        this.dp = dp;
        this.edp = expertDataParallel == null ? dp : expertDataParallel;
        this.manager = parent.newSubManager();
        List<Parameter> trainable = layout.stream().filter(p -> !p.frozen()).toList();
        List<Parameter> frozenParams = layout.stream().filter(Parameter::frozen).toList();
        List<Parameter> all = new ArrayList<>(trainable);
        all.addAll(frozenParams);
        this.layout = List.copyOf(all);
        long off = 0;
        for (Parameter p : trainable) {
            p.bind(null, off);
            off += p.numel();
        }
        this.numel = off;
        if (groupEnds.length == 0 ? numel != 0 : groupEnds[groupEnds.length - 1] != numel) {
            throw new IllegalArgumentException("groups must end at " + numel);
        }
        this.frozen = frozenParams.isEmpty() ? null : new ParameterStore(frozenParams, manager, seed);
        List<Group> gs = new ArrayList<>();
        long from = 0;
        for (long end : groupEnds) {
            List<Parameter> members = new ArrayList<>();
            for (Parameter p : trainable) {
                if (p.offset() >= from && p.offset() < end) {
                    if (p.offset() + p.numel() > end) {
                        throw new IllegalArgumentException("group end " + end + " cuts parameter " + p.name());
                    }
                    members.add(p);
                }
            }
            gs.add(new Group(gs.size(), from, end, List.copyOf(members)));
            from = end;
        }
        this.groups = List.copyOf(gs);
        int n = groups.size();
        this.expertGroup = new boolean[n];
        for (Group g : groups) {
            long experts = expert == null ? 0 : g.params().stream().filter(expert).count();
            if (experts > 0 && experts < g.params().size()) {
                throw new IllegalArgumentException("group " + g.index() + " mixes expert and other parameters");
            }
            expertGroup[g.index()] = experts > 0;
        }
        pieceFrom = new long[n];
        pieceTo = new long[n];
        shardOffset = new int[n];
        int size = 0;
        for (Group g : groups) {
            Communicator c = communicator(g.index());
            pieceFrom[g.index()] = g.from() + c.partStart(g.size(), c.rank());
            pieceTo[g.index()] = g.from() + c.partStart(g.size(), c.rank() + 1);
            shardOffset[g.index()] = size;
            size += (int) (pieceTo[g.index()] - pieceFrom[g.index()]);
        }
        this.shardSize = size;
        this.shard = DirectBuffers.floats(size);
        this.full = new PtNDArray[n];
        this.arriving = new PtNDArray[n];
        this.gathers = new Handle[n];
        initialise(seed);
    }

    private void initialise(long seed) {
        FloatBuffer values = shard.asFloatBuffer();
        for (Group g : groups) {
            for (Parameter p : g.params()) {
                long a = Math.max(p.offset(), pieceFrom[g.index()]);
                long b = Math.min(p.offset() + p.numel(), pieceTo[g.index()]);
                if (a >= b) {
                    continue;
                }
                float[] part = new float[(int) (b - a)];
                p.init().fill(seed, p.name(), a - p.offset(), part);
                values.put(shardOffset[g.index()] + (int) (a - pieceFrom[g.index()]), part);
            }
        }
    }

    public List<Group> groups() {
        return groups;
    }

    /** Every parameter: the trainable ones (partitioned, in layout order), then the frozen ones (replicated). */
    public List<Parameter> parameters() {
        return layout;
    }

    /** Elements of every parameter, frozen ones included. */
    public long numel() {
        return numel + (frozen == null ? 0 : frozen.numel());
    }

    /** Elements of the trainable parameters: the flat space the groups partition. */
    public long trainableElements() {
        return numel;
    }

    /** Number of elements this rank owns. */
    public int shardSize() {
        return shardSize;
    }

    /** Bytes of the shard buffer (0 once resident: the pieces then live in the full tensors). */
    public long shardBytes() {
        return shard == null ? 0 : shard.capacity();
    }

    /** This rank's piece of group g: flat [from, to), and where it starts in the shard. */
    public long pieceFrom(int g) {
        return pieceFrom[g];
    }

    public long pieceTo(int g) {
        return pieceTo[g];
    }

    public int shardOffset(int g) {
        return shardOffset[g];
    }

    /**
     * This rank's values of group g (live, for the optimizer): in the shard, or once resident inside the group's full
     * tensor. Valid until the group is released.
     */
    public FloatBuffer piece(int g) {
        return pieceBytes(g).asFloatBuffer();
    }

    private ByteBuffer pieceBytes(int g) {
        int len = (int) (pieceTo[g] - pieceFrom[g]);
        if (resident) {
            return region(Ops.bytes(full[g], true), pieceFrom[g] - groups.get(g).from(), len);
        }
        return region(shard, shardOffset[g], len);
    }

    private static ByteBuffer region(ByteBuffer buf, long fromElement, int elements) {
        return buf.duplicate().position((int) fromElement * 4).limit((int) (fromElement + elements) * 4).slice()
                .order(ByteOrder.LITTLE_ENDIAN);
    }

    /**
     * ZeRO-2: materialises every group for good and frees the shard; the owned pieces are read and updated inside
     * the full tensors from now on, so parameters cost 4 bytes per element, not 4 + 4/N.
     */
    public void keepResident() {
        if (resident) {
            return;
        }
        for (int g = 0; g < groups.size(); g++) {
            materialise(g);
        }
        resident = true;
        DirectBuffers.free(shard);
        shard = null;
    }

    /** Decay ranges in shard coordinates ({from, to, ...}), for AdamW over the shard. */
    public long[] shardDecayRanges() {
        ShardRanges out = new ShardRanges();
        for (Group g : groups) {
            for (Parameter p : g.params()) {
                if (!p.decay()) {
                    continue;
                }
                long a = Math.max(p.offset(), pieceFrom[g.index()]);
                long b = Math.min(p.offset() + p.numel(), pieceTo[g.index()]);
                if (a < b) {
                    long s = shardOffset[g.index()] + (a - pieceFrom[g.index()]);
                    out.add(s, s + (b - a));
                }
            }
        }
        return out.toArray();
    }

    public boolean isMaterialised(int g) {
        return full[g] != null;
    }

    /** All-gathers group g's pieces into a full tensor and binds its parameters to views of it. */
    public void materialise(int g) {
        if (full[g] != null) {
            return;
        }
        if (gathers[g] == null) {
            prefetch(g);
        }
        gathers[g].await();
        gathers[g] = null;
        full[g] = arriving[g];
        arriving[g] = null;
        bindViews(groups.get(g));
    }

    /**
     * Starts all-gathering group g without waiting (ZeRO-3 gathers the next layer while this one computes);
     * {@link #materialise} waits for it and binds the views. Nothing happens if g is held or already on its way.
     */
    public void prefetch(int g) {
        if (full[g] != null || gathers[g] != null) {
            return;
        }
        // not zero-filled: the all-gather writes every element
        PtNDArray t = JniUtils.createEmptyNdArray((PtNDManager) manager,
                new Shape(groups.get(g).size()), DataType.FLOAT32, manager.getDevice(),
                SparseFormat.DENSE);
        NDScope.unregister(t);
        arriving[g] = t;
        gathers[g] = communicator(g).allGatherAsync(pieceBytes(g), Ops.bytes(t, true), ElementType.F32);
    }

    /** Closes group g's full tensor and views: its parameters have no storage until materialised again. */
    public void release(int g) {
        if (gathers[g] != null) { // prefetched, never used: let the all-gather finish writing before freeing
            materialise(g);
        }
        if (full[g] == null || resident) {
            return;
        }
        for (Parameter p : groups.get(g).params()) {
            closeView(p);
            p.bind(null, p.offset());
        }
        full[g].close();
        full[g] = null;
    }

    /**
     * Replaces the views of group g's parameters by fresh ones over the same storage: the old views' gradients
     * are freed (read them first), the next backward allocates new ones.
     */
    public void renewViews(int g) {
        if (full[g] == null) {
            return;
        }
        Group group = groups.get(g);
        for (Parameter p : group.params()) {
            closeView(p);
        }
        bindViews(group);
    }

    /**
     * Adds (or with {@code add} false copies) the gradients of group g's current views into {@code dst}
     * (group coordinates: element {@code from} of the group at dst's position); a parameter without a
     * gradient contributes nothing (zeros when copying).
     */
    public void gradients(int g, FloatBuffer dst, boolean add) {
        Group group = groups.get(g);
        float[] a = new float[4096];
        float[] b = new float[4096];
        for (Parameter p : group.params()) {
            int at = dst.position() + (int) (p.offset() - group.from());
            int n = (int) p.numel();
            PtNDArray grad = gradView(p);
            if (grad == null) {
                if (!add) {
                    for (int j = 0; j < n; j++) {
                        dst.put(at + j, 0f);
                    }
                }
                continue;
            }
            FloatBuffer src = Ops.bytes(grad, true).asFloatBuffer();
            if (!add) {
                dst.put(at, src, 0, n);
                continue;
            }
            for (int c = 0; c < n; c += a.length) {
                int len = Math.min(a.length, n - c);
                src.get(c, a, 0, len);
                dst.get(at + c, b, 0, len);
                for (int j = 0; j < len; j++) {
                    b[j] += a[j];
                }
                dst.put(at + c, b, 0, len);
            }
        }
    }

    /**
     * Writes this rank's updated pieces into the materialised full tensors (ZeRO-2 keeps them; others re-gather).
     * Resident groups gather in place: the input is this rank's own segment of the output.
     */
    public void allGatherMaterialised() {
        for (Group g : groups) {
            if (full[g.index()] == null) {
                continue;
            }
            communicator(g.index()).allGather(pieceBytes(g.index()), Ops.bytes(full[g.index()], true), ElementType.F32);
        }
    }

    @Override
    public Map<String, HostTensor> toHost() {
        return gatherFull();
    }

    @Override
    public void load(Map<String, HostTensor> tensors) {
        loadFull(tensors);
    }

    /** Every parameter in full, by name (a collective: all ranks of the group call it). */
    public Map<String, HostTensor> gatherFull() {
        Map<String, HostTensor> out = new LinkedHashMap<>();
        for (Group g : groups) {
            boolean was = full[g.index()] != null;
            materialise(g.index());
            ByteBuffer all = Ops.bytes(full[g.index()], true);
            for (Parameter p : g.params()) {
                float[] v = new float[(int) p.numel()];
                all.duplicate().position((int) (p.offset() - g.from()) * 4).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(v);
                out.put(p.name(), HostTensor.ofFloats(v, p.shape()));
            }
            if (!was) {
                release(g.index());
            }
        }
        if (frozen != null) {
            out.putAll(frozen.toHost());
        }
        return out;
    }

    @Override
    public void copyValues(Predicate<Parameter> which, HostCopies out) {
        for (Group g : groups) {
            boolean was = full[g.index()] != null;
            materialise(g.index()); // the group's all-gather: every rank takes part, whatever it selects
            FloatBuffer all = Ops.bytes(full[g.index()], true).asFloatBuffer();
            for (Parameter p : g.params()) {
                if (which.test(p)) {
                    int at = (int) (p.offset() - g.from());
                    out.put(p.name(), p.shape(), all.duplicate().position(at).limit(at + (int) p.numel()).slice());
                }
            }
            if (!was) {
                release(g.index());
            }
        }
        if (frozen != null) {
            frozen.copyValues(which, out);
        }
    }

    /** Takes this rank's pieces from full named tensors (and refreshes materialised groups). */
    public void loadFull(Map<String, HostTensor> tensors) {
        for (Group g : groups) {
            FloatBuffer values = piece(g.index());
            for (Parameter p : g.params()) {
                HostTensor t = tensors.get(p.name());
                if (t == null || !Arrays.equals(t.shape(), p.shape())) {
                    throw new IllegalArgumentException("missing or misshapen tensor " + p.name());
                }
                long a = Math.max(p.offset(), pieceFrom[g.index()]);
                long b = Math.min(p.offset() + p.numel(), pieceTo[g.index()]);
                if (a < b) {
                    float[] all = t.toFloats();
                    values.put((int) (a - pieceFrom[g.index()]), all, (int) (a - p.offset()), (int) (b - a));
                }
            }
            if (resident) {
                communicator(g.index()).allGather(pieceBytes(g.index()), Ops.bytes(full[g.index()], true),
                        ElementType.F32);
            } else if (full[g.index()] != null) {
                release(g.index());
                materialise(g.index());
            }
        }
        if (frozen != null) {
            frozen.load(tensors);
        }
    }

    /** Elements of parameters currently held in full (materialised, frozen) plus the owned shard. */
    public long heldParameterElements() {
        long held = (resident ? 0 : shardSize()) + (frozen == null ? 0 : frozen.numel());
        for (Group g : groups) {
            if (full[g.index()] != null) {
                held += g.size();
            }
        }
        return held;
    }

    private void bindViews(Group group) {
        PtNDArray t = full[group.index()];
        for (Parameter p : group.params()) {
            long at = p.offset() - group.from();
            PtNDArray slice = Ops.slice(t, 0, at, at + p.numel());
            PtNDArray view = Ops.reshape(slice, p.shape());
            slice.close(); // a handle only: the view keeps the storage
            NDScope.unregister(view);
            JniUtils.attachGradient(view, true);
            p.bind(view, p.offset());
        }
    }

    private PtNDArray gradView(Parameter p) {
        PtNDArray g = gradViews.get(p);
        if (g == null && p.isBound() && p.value().hasGradient()) {
            g = JniUtils.getGradient(p.value());
            if (g == null) {
                return null; // no backward reached it yet
            }
            NDScope.unregister(g);
            gradViews.put(p, g);
        }
        return g;
    }

    private void closeView(Parameter p) {
        PtNDArray g = gradViews.remove(p);
        if (g != null) {
            g.close();
        }
        if (p.isBound()) {
            p.value().close();
        }
    }

    @Override
    public void close() {
        resident = false;
        for (int g = 0; g < groups.size(); g++) {
            release(g);
        }
        DirectBuffers.free(shard);
        shard = null;
        manager.close();
    }
}
