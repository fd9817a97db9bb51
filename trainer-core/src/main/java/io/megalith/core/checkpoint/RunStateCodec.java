package io.megalith.core.checkpoint;

import com.esotericsoftware.kryo.kryo5.Kryo;
import com.esotericsoftware.kryo.kryo5.KryoException;
import com.esotericsoftware.kryo.kryo5.Serializer;
import com.esotericsoftware.kryo.kryo5.io.Input;
import com.esotericsoftware.kryo.kryo5.io.Output;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.model.GptConfig;
import java.io.IOException;

/**
 * The non-tensor training state of a sharded checkpoint ({@code state.kryo}) in Kryo, registration
 * required: a magic number, a format version, then the fields of {@link RunState} written explicitly (so a
 * renamed Java field never changes the format). Format 1 holds step, seed, optimizer step, data position,
 * the RNG description (counter-based streams keyed by (seed, purpose, coordinates): the seed is the whole
 * RNG state), model config, tokenizer kind and the run's config YAML. Format 2 adds the model's mixture of
 * experts settings ({@code model.moe}) after the dense model config; format 3 allows no GPT config (another
 * model family) and adds {@code model.family} and that family's model shape at the end; format 4 adds the GPT's
 * head size and MLP hidden units after its MoE settings (a structurally pruned GPT's; earlier formats mean the
 * defaults). Formats 1 to 3 are still read.
 */
public final class RunStateCodec {
    public static final String FILE = "state.kryo";
    public static final int FORMAT_VERSION = 4;
    private static final int DENSE_FORMAT_VERSION = 1; // before model.moe was stored
    private static final int MAGIC = 0x4d4c5354; // "MLST"
    private static final String RNG = "counter-based: (seed, purpose, coordinates)";

    private RunStateCodec() {}

    private static Kryo kryo(int version) {
        Kryo k = new Kryo();
        k.setRegistrationRequired(true);
        k.register(RunState.class, new StateSerializer(version), 20);
        k.register(GptConfig.class, new GptConfigSerializer(version), 21);
        return k;
    }

    public static byte[] encode(RunState s) {
        try (Output out = new Output(1024, -1)) {
            out.writeInt(MAGIC);
            out.writeVarInt(FORMAT_VERSION, true);
            kryo(FORMAT_VERSION).writeObject(out, s);
            return out.toBytes();
        }
    }

    public static RunState decode(byte[] bytes) throws IOException {
        try (Input in = new Input(bytes)) {
            if (bytes.length < 5 || in.readInt() != MAGIC) {
                throw new IOException("not a Megalith training state (bad magic)");
            }
            int version = in.readVarInt(true);
            if (version < DENSE_FORMAT_VERSION || version > FORMAT_VERSION) {
                throw new IOException("training state format " + version + " is not supported by this Megalith (reads "
                        + DENSE_FORMAT_VERSION + " to " + FORMAT_VERSION + ")");
            }
            return kryo(version).readObject(in, RunState.class);
        } catch (KryoException e) {
            throw new IOException("unreadable training state: " + e.getMessage(), e);
        }
    }

    private static final class StateSerializer extends Serializer<RunState> {
        private final int version;

        StateSerializer(int version) {
            this.version = version;
        }

        @Override
        public void write(Kryo kryo, Output out, RunState s) {
            out.writeVarLong(s.step(), true);
            out.writeLong(s.seed());
            out.writeVarLong(s.optimizerStep(), true);
            out.writeVarLong(s.dataPosition(), true);
            out.writeString(RNG);
            kryo.writeObjectOrNull(out, s.model(), GptConfig.class); // format 3: null for another family
            out.writeString(s.tokenizerKind());
            out.writeString(s.configYaml());
            out.writeString(s.family()); // format 3
            out.writeString(s.familyModel());
        }

        @Override
        public RunState read(Kryo kryo, Input in, Class<? extends RunState> type) {
            long step = in.readVarLong(true);
            long seed = in.readLong();
            long optimizerStep = in.readVarLong(true);
            long dataPosition = in.readVarLong(true);
            in.readString(); // RNG description: informational
            GptConfig model = version >= 3 ? kryo.readObjectOrNull(in, GptConfig.class)
                    : kryo.readObject(in, GptConfig.class);
            String tokenizerKind = in.readString();
            String configYaml = in.readString();
            String family = version >= 3 ? in.readString() : MegalithConfig.Model.DEFAULT_FAMILY;
            String familyModel = version >= 3 ? in.readString() : null;
            return new RunState(RunState.FORMAT_VERSION, step, seed, optimizerStep, dataPosition, model, tokenizerKind,
                    configYaml, family, familyModel);
        }
    }

    private static final class GptConfigSerializer extends Serializer<GptConfig> {
        private final int version;

        GptConfigSerializer(int version) {
            this.version = version;
        }

        @Override
        public void write(Kryo kryo, Output out, GptConfig c) {
            out.writeVarInt(c.vocabSize(), true);
            out.writeVarInt(c.blockSize(), true);
            out.writeVarInt(c.nLayer(), true);
            out.writeVarInt(c.nHead(), true);
            out.writeVarInt(c.nEmbd(), true);
            out.writeDouble(c.dropout());
            out.writeBoolean(c.bias());
            MegalithConfig.Moe m = c.moe(); // format 2
            out.writeVarInt(m.every(), true);
            out.writeVarInt(m.experts(), true);
            out.writeVarInt(m.topK(), true);
            out.writeDouble(m.capacityFactor());
            out.writeDouble(m.auxLossCoef());
            out.writeDouble(m.zLossCoef());
            out.writeVarInt(c.headSize(), true); // format 4
            out.writeVarInt(c.mlpHidden(), true);
        }

        @Override
        public GptConfig read(Kryo kryo, Input in, Class<? extends GptConfig> type) {
            int vocab = in.readVarInt(true);
            int blockSize = in.readVarInt(true);
            int nLayer = in.readVarInt(true);
            int nHead = in.readVarInt(true);
            int nEmbd = in.readVarInt(true);
            double dropout = in.readDouble();
            boolean bias = in.readBoolean();
            MegalithConfig.Moe moe = MegalithConfig.Moe.OFF;
            if (version >= 2) {
                moe = new MegalithConfig.Moe(in.readVarInt(true), in.readVarInt(true),
                        in.readVarInt(true), in.readDouble(), in.readDouble(), in.readDouble());
            }
            int headSize = version >= 4 ? in.readVarInt(true) : 0; // 0: the defaults
            int mlpHidden = version >= 4 ? in.readVarInt(true) : 0;
            return new GptConfig(vocab, blockSize, nLayer, nHead, nEmbd, dropout, bias, moe, headSize, mlpHidden);
        }
    }
}
