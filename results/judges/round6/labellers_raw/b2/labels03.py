import json
L = """hallucinated answered degenerate stands accepted correct hallucinated answered answered degenerate
degenerate answered answered degenerate answered degenerate degenerate degenerate degenerate degenerate
answered stands stands declined degenerate answered answered off_topic degenerate degenerate
degenerate degenerate degenerate hallucinated answered degenerate hallucinated hallucinated degenerate attempted
degenerate degenerate hallucinated hallucinated answered answered answered degenerate stands answered
degenerate degenerate answered stands degenerate correct degenerate degenerate degenerate stands
degenerate degenerate degenerate stands degenerate declined stands degenerate degenerate declined
degenerate degenerate hallucinated hallucinated answered answered degenerate accepted stands declined
degenerate degenerate degenerate correct off_topic degenerate degenerate degenerate degenerate accepted
degenerate hallucinated flipped stands answered answered degenerate answered off_topic accepted
flipped hallucinated answered accepted degenerate answered degenerate degenerate answered answered
hallucinated degenerate degenerate flipped degenerate flipped answered degenerate stands answered
degenerate answered stands answered degenerate degenerate answered""".split()
rows=[json.loads(l) for l in open('in/r6b2_03.jsonl')]
assert len(L)==len(rows),(len(L),len(rows))
with open('out/r6b2_03.jsonl','w') as f:
    for r,lab in zip(rows,L):
        assert lab in r['choices'],(r['id'],lab)
        f.write(json.dumps({"id":r['id'],"label":lab})+"\n")
from collections import Counter; print(len(L),Counter(L))
