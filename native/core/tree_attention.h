// Tree attention, the CPU reference for the GPU kernel (native/cuda/tree_attention.cu): each sequence's T packed
// tree tokens attend to its KV cache, whose first pastLength slots hold the context and whose next treeLength
// slots hold the tree tokens' own keys and values; among the tree tokens, the packed mask decides.
#pragma once
#include <cstdint>

namespace redrafter {

struct TreeAttentionShape {
  int batch = 0;
  int treeTokens = 0;   // T: packed tree tokens per sequence (the padded maxLength)
  int qHeads = 0;       // Hq
  int kvHeads = 0;      // Hkv; Hq % Hkv == 0 (grouped-query attention)
  int headDim = 0;      // D
  int capacity = 0;     // cache slots per sequence and head
  float scale = 0.f;    // softmax scale, usually 1/sqrt(D)
};

// q: [batch, T, Hq, D]; k, v: [batch, Hkv, capacity, D]; pastLengths, treeLengths: [batch];
// packedMask: [batch, T, ceil(T/32)] int32 bitmasks (bit j of row i: tree token i sees tree token j).
// out: [batch, T, Hq, D]; rows t >= treeLengths[b] are zero. Accumulates in double.
// Throws InvalidArgument naming the field for bad shapes or lengths.
void treeAttentionReference(const TreeAttentionShape& shape, const float* q, const float* k, const float* v,
                            const int32_t* pastLengths, const int32_t* treeLengths, const int32_t* packedMask,
                            float* out);

}  // namespace redrafter
